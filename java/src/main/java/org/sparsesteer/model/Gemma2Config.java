package org.sparsesteer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A Gemma 2 configuration, read from a Hugging Face {@code config.json}. The size fields are
 * required; the others take the defaults of Hugging Face's {@code Gemma2Config} when absent.
 *
 * @param slidingLayers per layer, whether it uses sliding-window attention (HF's {@code layer_types}
 *     when given, else even layers as in Gemma 2)
 */
public record Gemma2Config(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        double rmsNormEps,
        double ropeTheta,
        double queryPreAttnScalar,
        int slidingWindow,
        double attnLogitSoftcap,
        double finalLogitSoftcap,
        boolean tieWordEmbeddings,
        int bosTokenId,
        int eosTokenId,
        int padTokenId,
        boolean[] slidingLayers) {

    public Gemma2Config {
        if (numHeads % numKvHeads != 0) {
            throw new ModelException("config: num_attention_heads " + numHeads + " is not a multiple of num_key_value_heads " + numKvHeads);
        }
        if (headDim % 2 != 0) throw new ModelException("config: head_dim " + headDim + " must be even for rotary embeddings");
        if (slidingLayers.length != numLayers) throw new ModelException("config: layer_types has " + slidingLayers.length + " entries for " + numLayers + " layers");
    }

    public boolean isSliding(int layer) {
        return slidingLayers[layer];
    }

    /** Reads {@code config.json}; every problem names the file and the field. */
    public static Gemma2Config read(Path configJson) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(configJson));
        } catch (IOException e) {
            throw new ModelException(configJson + ": cannot read config: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new ModelException(configJson + ": not a JSON object");
        return fromJson(root, configJson.toString());
    }

    public static Gemma2Config fromJson(JsonNode root, String source) {
        Fields f = new Fields(root, source);
        String type = f.optString("model_type", "gemma2");
        if (!type.equals("gemma2")) {
            throw new ModelException(source + ": model_type is '" + type + "', SparseSteer runs 'gemma2'");
        }
        String act = f.optString("hidden_activation", f.optString("hidden_act", "gelu_pytorch_tanh"));
        if (!act.equals("gelu_pytorch_tanh") && !act.equals("gelu_tanh")) {
            throw new ModelException(source + ": hidden_activation '" + act + "' is not supported (gelu_pytorch_tanh)");
        }
        int layers = f.reqInt("num_hidden_layers");
        boolean[] sliding = new boolean[layers];
        JsonNode types = root.get("layer_types");
        if (types != null && types.isArray()) {
            if (types.size() != layers) {
                throw new ModelException(source + ": layer_types has " + types.size() + " entries but num_hidden_layers is " + layers);
            }
            for (int i = 0; i < layers; i++) {
                String t = types.get(i).asText();
                if (!t.equals("sliding_attention") && !t.equals("full_attention")) {
                    throw new ModelException(source + ": layer_types[" + i + "] = '" + t + "' is not sliding_attention or full_attention");
                }
                sliding[i] = t.equals("sliding_attention");
            }
        } else {
            for (int i = 0; i < layers; i++) sliding[i] = i % 2 == 0;
        }
        int headDim = f.reqInt("head_dim");
        return new Gemma2Config(
                f.reqInt("vocab_size"),
                f.reqInt("hidden_size"),
                f.reqInt("intermediate_size"),
                layers,
                f.reqInt("num_attention_heads"),
                f.reqInt("num_key_value_heads"),
                headDim,
                f.optDouble("rms_norm_eps", 1e-6),
                f.optDouble("rope_theta", 10000.0),
                f.optDouble("query_pre_attn_scalar", headDim),
                f.optInt("sliding_window", 4096),
                f.optCap("attn_logit_softcapping", 50.0),
                f.optCap("final_logit_softcapping", 30.0),
                f.optBool("tie_word_embeddings", true),
                f.optInt("bos_token_id", 2),
                f.optInt("eos_token_id", 1),
                f.optInt("pad_token_id", 0),
                sliding);
    }

    /** The number of parameters the checkpoint holds (tied head counted once). */
    public long parameterCount() {
        long h = hiddenSize, q = (long) numHeads * headDim, kv = (long) numKvHeads * headDim;
        long perLayer = 4 * h + h * q * 2 + h * kv * 2 + 3 * h * intermediateSize;
        return (long) vocabSize * h * (tieWordEmbeddings ? 1 : 2) + numLayers * perLayer + h;
    }

    private record Fields(JsonNode root, String source) {
        int reqInt(String name) {
            JsonNode n = root.get(name);
            if (n == null || n.isNull()) throw new ModelException(source + ": missing required field '" + name + "'");
            if (!n.isIntegralNumber() || n.asLong() <= 0 || n.asLong() > Integer.MAX_VALUE) {
                throw new ModelException(source + ": field '" + name + "' must be a positive integer, got " + n);
            }
            return n.asInt();
        }

        int optInt(String name, int dflt) {
            JsonNode n = root.get(name);
            if (n == null || n.isNull()) return dflt;
            if (!n.isIntegralNumber()) throw new ModelException(source + ": field '" + name + "' must be an integer, got " + n);
            return n.asInt();
        }

        double optDouble(String name, double dflt) {
            JsonNode n = root.get(name);
            if (n == null || n.isNull()) return dflt;
            if (!n.isNumber()) throw new ModelException(source + ": field '" + name + "' must be a number, got " + n);
            return n.asDouble();
        }

        /** Soft-capping: null in the config means none (0 here). */
        double optCap(String name, double dflt) {
            if (root.has(name) && root.get(name).isNull()) return 0;
            return optDouble(name, dflt);
        }

        boolean optBool(String name, boolean dflt) {
            JsonNode n = root.get(name);
            if (n == null || n.isNull()) return dflt;
            if (!n.isBoolean()) throw new ModelException(source + ": field '" + name + "' must be true or false, got " + n);
            return n.asBoolean();
        }

        String optString(String name, String dflt) {
            JsonNode n = root.get(name);
            return n == null || n.isNull() ? dflt : n.asText();
        }
    }
}
