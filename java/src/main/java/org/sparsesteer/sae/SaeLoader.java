package org.sparsesteer.sae;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.io.SafetensorsFile;
import org.sparsesteer.model.Gemma2;

/**
 * Loads an SAE from a Gemma Scope {@code params.npz} or a SAELens directory ({@code cfg.json} +
 * {@code sae_weights.safetensors}), memory-mapped and converted to float32 tensor by tensor.
 */
public final class SaeLoader {
    private static final Pattern LAYER_IN_PATH = Pattern.compile("layer_(\\d+)");

    private SaeLoader() {}

    /**
     * @param path a params.npz file or a SAELens directory
     * @param hook the hook point, or null to take it from cfg.json (SAELens) or a Gemma Scope path
     *     such as {@code .../layer_12/width_16k/...} (blocks.12.hook_resid_post)
     */
    public static Sae load(Path path, String hook) {
        if (hook != null) HookPoint.parse(hook);
        if (!Files.exists(path)) throw new SaeException(path + ": no such SAE file or directory");
        if (Files.isDirectory(path)) return loadSaeLens(path, hook);
        if (path.getFileName().toString().endsWith(".npz")) return GemmaScope.load(path, hook == null ? hookFromPath(path) : hook);
        throw new SaeException(path + ": not an SAE: give a Gemma Scope params.npz or a SAELens directory (cfg.json + sae_weights.safetensors)");
    }

    /**
     * Loads an SAE and places it where a model computes: on the model's device, in its dtype (the
     * fused kernel needs the activations and the SAE in one dtype). On the CPU it stays float32.
     */
    public static Sae loadFor(Gemma2 model, Path path, String hook) {
        Sae sae = load(path, hook);
        try {
            sae.checkCompatible(model);
        } catch (RuntimeException e) {
            sae.close();
            throw e;
        }
        if (!model.device().is_cuda() && model.dtype() == ScalarType.Float) return sae;
        try (Sae cpu = sae) {
            return cpu.to(model.device(), model.dtype());
        }
    }

    private static String hookFromPath(Path p) {
        Matcher m = LAYER_IN_PATH.matcher(p.toAbsolutePath().toString());
        String layer = null;
        while (m.find()) layer = m.group(1);
        if (layer == null) {
            throw new SaeException(p + ": a Gemma Scope params.npz does not say its hook: give it (e.g. --hook blocks.12.hook_resid_post)");
        }
        return "blocks." + layer + ".hook_resid_post";
    }

    static Sae loadSaeLens(Path dir, String hookOverride) {
        Path cfgFile = dir.resolve("cfg.json");
        Path weights = dir.resolve("sae_weights.safetensors");
        if (!Files.exists(cfgFile)) throw new SaeException(dir + ": no cfg.json (not a SAELens directory)");
        if (!Files.exists(weights)) throw new SaeException(dir + ": no sae_weights.safetensors");
        JsonNode cfg;
        try {
            cfg = new ObjectMapper().readTree(cfgFile.toFile());
        } catch (IOException e) {
            throw new SaeException(cfgFile + ": cannot read: " + e.getMessage(), e);
        }
        String src = cfgFile.toString();
        int dIn = reqInt(cfg, "d_in", src), dSae = reqInt(cfg, "d_sae", src);
        String arch = cfg.path("architecture").asText("standard");
        SaeConfig.Architecture a = SaeConfig.Architecture.fromSaeLens(arch, src);
        String norm = cfg.path("normalize_activations").asText("none");
        if (!norm.equals("none") && !norm.isEmpty()) {
            throw new SaeException(src + ": normalize_activations '" + norm + "' is not supported (only 'none')");
        }
        int k = 0;
        if (a == SaeConfig.Architecture.TOPK) {
            JsonNode kn = cfg.has("k") ? cfg.get("k") : cfg.path("activation_fn_kwargs").get("k");
            if (kn == null || !kn.isIntegralNumber()) throw new SaeException(src + ": a topk SAE needs 'k'");
            k = kn.asInt();
        }
        String hook = hookOverride != null ? hookOverride : cfg.path("hook_name").asText(null);
        if (hook == null) throw new SaeException(src + ": no hook_name: give the hook");
        try {
            HookPoint.parse(hook);
        } catch (IllegalArgumentException e) {
            throw new SaeException(src + ": " + e.getMessage(), e);
        }
        boolean bDecIn = cfg.path("apply_b_dec_to_input").asBoolean(false);
        SaeConfig c = new SaeConfig(a, dIn, dSae, k, hook, bDecIn, dir.toString(), fingerprint(weights));
        try (SafetensorsFile f = SafetensorsFile.open(weights)) {
            Tensor thr = null;
            if (a == SaeConfig.Architecture.JUMPRELU) {
                if (f.contains("threshold")) {
                    thr = f.load("threshold", ScalarType.Float);
                } else if (f.contains("log_threshold")) {
                    try (Tensor lt = f.load("log_threshold", ScalarType.Float)) {
                        thr = lt.exp();
                    }
                } else {
                    throw new SaeException(weights + ": a jumprelu SAE needs 'threshold' (or 'log_threshold')");
                }
            }
            Tensor bDec = f.contains("b_dec") ? f.load("b_dec", ScalarType.Float) : org.sparsesteer.tensor.Tensors.zeros(ScalarType.Float, dIn);
            return new Sae(c, need(f, "W_enc"), need(f, "b_enc"), thr, need(f, "W_dec"), bDec);
        }
    }

    private static Tensor need(SafetensorsFile f, String name) {
        if (!f.contains(name)) throw new SaeException(f.path() + ": missing tensor '" + name + "'");
        return f.load(name, ScalarType.Float);
    }

    private static int reqInt(JsonNode cfg, String field, String src) {
        JsonNode n = cfg.get(field);
        if (n == null || !n.isIntegralNumber() || n.asInt() < 1) throw new SaeException(src + ": missing or bad field '" + field + "'");
        return n.asInt();
    }

    /** sha256 of the first MiB of a file: cheap on a 19 GB SAE, and enough to tell SAEs apart. */
    public static String fingerprint(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = in.readNBytes(1 << 20);
            md.update(buf);
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new SaeException(file + ": cannot read: " + e.getMessage(), e);
        }
    }
}
