package org.sparsesteer.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.io.SafetensorsWriter;

/** Builds and saves Gemma 2 checkpoints in Hugging Face layout (for tests, benchmarks and training). */
public final class Gemma2Checkpoint {
    private Gemma2Checkpoint() {}

    /** The config as Hugging Face writes it. */
    public static ObjectNode toJson(Gemma2Config c) {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.putArray("architectures").add("Gemma2ForCausalLM");
        o.put("model_type", "gemma2");
        o.put("vocab_size", c.vocabSize());
        o.put("hidden_size", c.hiddenSize());
        o.put("intermediate_size", c.intermediateSize());
        o.put("num_hidden_layers", c.numLayers());
        o.put("num_attention_heads", c.numHeads());
        o.put("num_key_value_heads", c.numKvHeads());
        o.put("head_dim", c.headDim());
        o.put("hidden_activation", "gelu_pytorch_tanh");
        o.put("max_position_embeddings", 8192);
        o.put("rms_norm_eps", c.rmsNormEps());
        o.put("rope_theta", c.ropeTheta());
        o.put("attention_bias", false);
        o.put("attn_logit_softcapping", c.attnLogitSoftcap());
        o.put("final_logit_softcapping", c.finalLogitSoftcap());
        o.put("query_pre_attn_scalar", c.queryPreAttnScalar());
        o.put("sliding_window", c.slidingWindow());
        ArrayNode types = o.putArray("layer_types");
        for (int l = 0; l < c.numLayers(); l++) types.add(c.isSliding(l) ? "sliding_attention" : "full_attention");
        o.put("bos_token_id", c.bosTokenId());
        o.put("eos_token_id", c.eosTokenId());
        o.put("pad_token_id", c.padTokenId());
        o.put("tie_word_embeddings", c.tieWordEmbeddings());
        o.put("torch_dtype", "float32");
        return o;
    }

    /** Writes config.json and model.safetensors (weights converted to {@code storeAs}). */
    public static void save(Path dir, Gemma2Config config, Gemma2Weights weights, ScalarType storeAs) throws IOException {
        Files.createDirectories(dir);
        ObjectNode cfg = toJson(config);
        cfg.put("torch_dtype", storeAs == ScalarType.BFloat16 ? "bfloat16" : storeAs == ScalarType.Half ? "float16" : "float32");
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(dir.resolve("config.json").toFile(), cfg);
        SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
        try {
            for (Map.Entry<String, Tensor> e : weights.named().entrySet()) {
                try (Tensor t = e.getValue().to(storeAs)) {
                    w.add(e.getKey(), t);
                }
            }
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
        w.write(dir.resolve("model.safetensors"));
    }

    /**
     * Random weights for a config: projections ~ N(0, std^2), embedding ~ N(0, std^2), norm weights 0
     * (so the RMSNorm scale 1 + w is 1). Seeded, float32, CPU.
     */
    public static Gemma2Weights random(Gemma2Config c, long seed, double std) {
        torch.manual_seed(seed);
        long h = c.hiddenSize(), q = (long) c.numHeads() * c.headDim(), kv = (long) c.numKvHeads() * c.headDim(), i = c.intermediateSize();
        Gemma2Weights.Layer[] layers = new Gemma2Weights.Layer[c.numLayers()];
        for (int l = 0; l < layers.length; l++) {
            layers[l] = new Gemma2Weights.Layer(zeros(h), randn(std, q, h), randn(std, kv, h), randn(std, kv, h), randn(std, h, q),
                    zeros(h), zeros(h), randn(std, i, h), randn(std, i, h), randn(std, h, i), zeros(h));
        }
        Tensor embed = randn(std, c.vocabSize(), h);
        Tensor head = c.tieWordEmbeddings() ? null : randn(std, c.vocabSize(), h);
        return Gemma2Weights.of(embed, layers, zeros(h), head);
    }

    private static Tensor randn(double std, long... shape) {
        // In-place ops return non-owning wrappers: keep the tensor randn made, not mul_'s result.
        Tensor t = torch.randn(shape);
        try (org.bytedeco.pytorch.Scalar s = new org.bytedeco.pytorch.Scalar(std)) {
            t.mul_(s);
        }
        return t;
    }

    private static Tensor zeros(long n) {
        return org.sparsesteer.tensor.Tensors.zeros(ScalarType.Float, n);
    }

    /** A config with the given sizes and Gemma 2's other settings. */
    public static Gemma2Config config(int vocab, int hidden, int intermediate, int layers, int heads, int kvHeads, int headDim, int window) {
        boolean[] sliding = new boolean[layers];
        for (int l = 0; l < layers; l++) sliding[l] = l % 2 == 0;
        return new Gemma2Config(vocab, hidden, intermediate, layers, heads, kvHeads, headDim, 1e-6, 10000.0, headDim, window,
                50.0, 30.0, true, 2, 1, 0, sliding);
    }

    /** Gemma-2-2B's shapes. */
    public static Gemma2Config gemma2_2b() {
        return config(256000, 2304, 9216, 26, 8, 4, 256, 4096);
    }
}
