package org.sparsesteer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.io.SafetensorsFile;
import org.sparsesteer.io.TensorInfo;

/**
 * The weights of a Gemma 2 checkpoint in Hugging Face layout, loaded one tensor at a time into the
 * compute dtype on the compute device. Every tensor's shape is checked against the config before
 * any data is read, so a wrong checkpoint fails fast and names the tensor.
 */
public final class Gemma2Weights implements AutoCloseable {
    /** One decoder layer's tensors; projection weights are [out, in] as in nn.Linear. */
    public record Layer(Tensor inputNorm, Tensor qProj, Tensor kProj, Tensor vProj, Tensor oProj,
                        Tensor postAttnNorm, Tensor preFfwNorm, Tensor gateProj, Tensor upProj,
                        Tensor downProj, Tensor postFfwNorm) {
        List<Tensor> all() {
            return List.of(inputNorm, qProj, kProj, vProj, oProj, postAttnNorm, preFfwNorm, gateProj, upProj, downProj, postFfwNorm);
        }
    }

    public final Tensor embed;      // [vocab, hidden], also the tied output head
    public final Layer[] layers;
    public final Tensor finalNorm;  // [hidden]
    public final Tensor lmHead;     // [vocab, hidden]: the embedding itself when tied

    private Gemma2Weights(Tensor embed, Layer[] layers, Tensor finalNorm, Tensor lmHead) {
        this.embed = embed;
        this.layers = layers;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
    }

    /** The expected shape of every tensor, by Hugging Face name. */
    static Map<String, long[]> expectedShapes(Gemma2Config c) {
        Map<String, long[]> m = new LinkedHashMap<>();
        long h = c.hiddenSize(), q = (long) c.numHeads() * c.headDim(), kv = (long) c.numKvHeads() * c.headDim(), i = c.intermediateSize();
        m.put("model.embed_tokens.weight", new long[] {c.vocabSize(), h});
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            m.put(p + "input_layernorm.weight", new long[] {h});
            m.put(p + "self_attn.q_proj.weight", new long[] {q, h});
            m.put(p + "self_attn.k_proj.weight", new long[] {kv, h});
            m.put(p + "self_attn.v_proj.weight", new long[] {kv, h});
            m.put(p + "self_attn.o_proj.weight", new long[] {h, q});
            m.put(p + "post_attention_layernorm.weight", new long[] {h});
            m.put(p + "pre_feedforward_layernorm.weight", new long[] {h});
            m.put(p + "mlp.gate_proj.weight", new long[] {i, h});
            m.put(p + "mlp.up_proj.weight", new long[] {i, h});
            m.put(p + "mlp.down_proj.weight", new long[] {h, i});
            m.put(p + "post_feedforward_layernorm.weight", new long[] {h});
        }
        m.put("model.norm.weight", new long[] {h});
        if (!c.tieWordEmbeddings()) m.put("lm_head.weight", new long[] {c.vocabSize(), h});
        return m;
    }

    /** The safetensors files of a model directory: a single file, or the shards an index names. */
    static List<Path> checkpointFiles(Path dir) {
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.exists(index)) {
            try {
                JsonNode map = new ObjectMapper().readTree(Files.readString(index)).get("weight_map");
                if (map == null || !map.isObject()) throw new ModelException(index + ": missing 'weight_map'");
                List<Path> files = new ArrayList<>();
                map.fields().forEachRemaining(e -> {
                    Path f = dir.resolve(e.getValue().asText());
                    if (!files.contains(f)) files.add(f);
                });
                for (Path f : files) if (!Files.exists(f)) throw new ModelException(index + ": names shard " + f.getFileName() + ", which does not exist");
                return files;
            } catch (IOException e) {
                throw new ModelException(index + ": cannot read: " + e.getMessage(), e);
            }
        }
        if (Files.exists(single)) return List.of(single);
        throw new ModelException(dir + ": no model.safetensors or model.safetensors.index.json");
    }

    /** Loads and checks every tensor; {@code dtype} and {@code device} are the compute ones. */
    public static Gemma2Weights load(Path dir, Gemma2Config config, ScalarType dtype, Device device) {
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, Tensor> loaded = new HashMap<>();
        try {
            Map<String, SafetensorsFile> where = new HashMap<>();
            for (Path p : checkpointFiles(dir)) {
                SafetensorsFile f = SafetensorsFile.open(p);
                files.add(f);
                for (String name : f.tensors().keySet()) where.put(name, f);
            }
            Map<String, long[]> expected = expectedShapes(config);
            // Check everything first, read afterwards: a wrong checkpoint costs no load time.
            for (Map.Entry<String, long[]> e : expected.entrySet()) {
                SafetensorsFile f = where.get(e.getKey());
                if (f == null) {
                    throw new ModelException(dir + ": tensor '" + e.getKey() + "' is missing from " + files.stream().map(x -> x.path().getFileName().toString()).toList());
                }
                TensorInfo info = f.info(e.getKey());
                if (!Arrays.equals(info.shape(), e.getValue())) {
                    throw new ModelException(f.path() + ": tensor '" + e.getKey() + "' has shape " + info.shapeString()
                            + " but config.json implies " + Arrays.toString(e.getValue()));
                }
                if (!info.dtype().isWeightType()) {
                    throw new ModelException(f.path() + ": tensor '" + e.getKey() + "' has dtype " + info.dtype() + "; weights must be F32, BF16 or F16");
                }
            }
            for (String name : expected.keySet()) loaded.put(name, where.get(name).load(name, dtype, device));
        } catch (RuntimeException e) {
            loaded.values().forEach(Tensor::close);
            throw e;
        } finally {
            files.forEach(SafetensorsFile::close);
        }
        Layer[] layers = new Layer[config.numLayers()];
        for (int l = 0; l < layers.length; l++) {
            String p = "model.layers." + l + ".";
            layers[l] = new Layer(loaded.get(p + "input_layernorm.weight"), loaded.get(p + "self_attn.q_proj.weight"),
                    loaded.get(p + "self_attn.k_proj.weight"), loaded.get(p + "self_attn.v_proj.weight"),
                    loaded.get(p + "self_attn.o_proj.weight"), loaded.get(p + "post_attention_layernorm.weight"),
                    loaded.get(p + "pre_feedforward_layernorm.weight"), loaded.get(p + "mlp.gate_proj.weight"),
                    loaded.get(p + "mlp.up_proj.weight"), loaded.get(p + "mlp.down_proj.weight"),
                    loaded.get(p + "post_feedforward_layernorm.weight"));
        }
        Tensor embed = loaded.get("model.embed_tokens.weight");
        Tensor head = config.tieWordEmbeddings() ? embed : loaded.get("lm_head.weight");
        return new Gemma2Weights(embed, layers, loaded.get("model.norm.weight"), head);
    }

    /** Wraps tensors built in memory (tests, benchmarks, training); ownership passes to the weights. */
    public static Gemma2Weights of(Tensor embed, Layer[] layers, Tensor finalNorm, Tensor lmHead) {
        return new Gemma2Weights(embed, layers, finalNorm, lmHead == null ? embed : lmHead);
    }

    /** All tensors by Hugging Face name (for writing a checkpoint). */
    public Map<String, Tensor> named() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", embed);
        for (int l = 0; l < layers.length; l++) {
            String p = "model.layers." + l + ".";
            Layer y = layers[l];
            m.put(p + "input_layernorm.weight", y.inputNorm());
            m.put(p + "self_attn.q_proj.weight", y.qProj());
            m.put(p + "self_attn.k_proj.weight", y.kProj());
            m.put(p + "self_attn.v_proj.weight", y.vProj());
            m.put(p + "self_attn.o_proj.weight", y.oProj());
            m.put(p + "post_attention_layernorm.weight", y.postAttnNorm());
            m.put(p + "pre_feedforward_layernorm.weight", y.preFfwNorm());
            m.put(p + "mlp.gate_proj.weight", y.gateProj());
            m.put(p + "mlp.up_proj.weight", y.upProj());
            m.put(p + "mlp.down_proj.weight", y.downProj());
            m.put(p + "post_feedforward_layernorm.weight", y.postFfwNorm());
        }
        m.put("model.norm.weight", finalNorm);
        if (lmHead != embed) m.put("lm_head.weight", lmHead);
        return m;
    }

    @Override
    public void close() {
        embed.close();
        for (Layer l : layers) l.all().forEach(Tensor::close);
        finalNorm.close();
        if (lmHead != embed) lmHead.close();
    }
}
