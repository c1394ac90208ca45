package org.sparsesteer.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.sparsesteer.eval.AbDataset;
import org.sparsesteer.eval.AbItem;
import org.sparsesteer.eval.LambdaSweep;
import org.sparsesteer.hooks.HookContext.Positions;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.GenerationConfig;
import org.sparsesteer.model.Generator;
import org.sparsesteer.model.Tokenizer;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.steer.PromptFormat;
import org.sparsesteer.steer.SparseSteerHook;
import org.sparsesteer.steer.SteeringVector;

/**
 * The embedded demo: a small Gemma 2 trained by this project ({@code sas train-model}) and a sparse
 * autoencoder trained on its residual stream, both shipped as resources under
 * {@code org/sparsesteer/demo/} (see the README there). {@link #run} builds SAS vectors from the
 * build split of behaviour sets, sweeps the steering scale on the held-out test items (SAS beside
 * dense CAA) and generates from one held-out question steered both ways.
 */
public final class Demo {
    static final String ROOT = "/org/sparsesteer/demo/";
    /** Where the demo's artifacts live on the classpath (and in the source tree under src/main/resources). */
    public static final String RESOURCES = ROOT.substring(1);
    static final List<String> MODEL_FILES = List.of("config.json", "model.safetensors", "tokenizer.json");
    static final List<String> SAE_FILES = List.of("cfg.json", "sae_weights.safetensors");

    /** What the demo runs. */
    /**
     * The SAS threshold of the demo: a feature enters S+ (S−) when it is active on at least this
     * fraction of the positive (negative) answers. Below the library's default 0.5: see the demo
     * README (resources, org/sparsesteer/demo/README.md) for what 0.5 gives with this small SAE.
     */
    public static final double TAU = 0.2;

    public record Config(List<String> behaviours, double[] scales, int testSize, long seed, double tau, int topK, int batchSize,
                         int neutralTexts, int maxNewTokens) {
        /** {@code sas demo}. */
        public static Config standard() {
            return new Config(List.of("myopic-reward", "coordinate-other-ais", "corrigible-neutral-HHH"),
                    new double[] {-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1}, 50, 1234, TAU, 0, 16, 4, 24);
        }

        /** {@code sas demo --quick}: the same vectors and test items, every other scale. */
        public static Config quick() {
            Config s = standard();
            return new Config(s.behaviours(), new double[] {-1, -0.5, 0, 0.5, 1}, s.testSize(), s.seed(), s.tau(), s.topK(), s.batchSize(),
                    2, 16);
        }

        public Config withScales(double[] scales) {
            return new Config(behaviours, scales, testSize, seed, tau, topK, batchSize, neutralTexts, maxNewTokens);
        }

        public Config withTau(double tau) {
            return new Config(behaviours, scales, testSize, seed, tau, topK, batchSize, neutralTexts, maxNewTokens);
        }

        public Config withBehaviours(List<String> behaviours) {
            return new Config(behaviours, scales, testSize, seed, tau, topK, batchSize, neutralTexts, maxNewTokens);
        }

        /** The λ-sweep settings (base prompt format, the first {@code neutralTexts} built-in neutral texts for the KL). */
        public LambdaSweep.Config sweep() {
            List<String> neutral = LambdaSweep.defaultNeutralTexts();
            return new LambdaSweep.Config(scales, testSize, seed, tau, topK, PromptFormat.BASE, batchSize,
                    neutral.subList(0, Math.min(neutralTexts, neutral.size())));
        }
    }

    /** One held-out question and the model's answer to it unsteered and steered both ways. */
    public record Generation(String behaviour, String question, String matching, double scale, String unsteered, String plus, String minus) {}

    private Demo() {}

    /** Copies the embedded model into {@code dir/model} and the SAE into {@code dir/sae}; returns {@code dir}. */
    public static Path extract(Path dir) throws IOException {
        copy("model/", MODEL_FILES, dir.resolve("model"));
        copy("sae/", SAE_FILES, dir.resolve("sae"));
        return dir;
    }

    private static void copy(String sub, List<String> files, Path to) throws IOException {
        Files.createDirectories(to);
        for (String f : files) {
            try (InputStream in = Demo.class.getResourceAsStream(ROOT + sub + f)) {
                if (in == null) {
                    throw new IOException("the demo resource " + ROOT + sub + f + " is missing from the classpath: the embedded demo model and"
                            + " SAE are not trained and committed yet (train one with `sas train-model` and `sas train-sae`)");
                }
                Files.copy(in, to.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    /** The recorded results of {@code sas demo} (resource {@code expected.json}): rows of behaviour, method, scale, score. */
    public static JsonNode expected() throws IOException {
        try (InputStream in = Demo.class.getResourceAsStream(ROOT + "expected.json")) {
            if (in == null) throw new IOException("the demo resource " + ROOT + "expected.json is missing");
            return new ObjectMapper().readTree(in);
        }
    }

    /** The A/B sets of the config, from the jar. */
    public static List<AbDataset> datasets(Config c) {
        List<AbDataset> ds = new ArrayList<>();
        for (String b : c.behaviours()) ds.add(AbDataset.bundled(b));
        return ds;
    }

    /**
     * Whether a method's score rises with the scale on a behaviour: never lower at a larger scale
     * (within {@code tolerance}) and higher at the largest than at the smallest.
     */
    public static boolean monotone(LambdaSweep.Result r, String behaviour, String method, double tolerance) {
        List<LambdaSweep.Row> pts = r.rows().stream().filter(x -> x.behaviour().equals(behaviour) && x.method().equals(method))
                .sorted((a, b) -> Double.compare(a.scale(), b.scale())).toList();
        if (pts.size() < 2) return false;
        for (int i = 1; i < pts.size(); i++) if (pts.get(i).score() < pts.get(i - 1).score() - tolerance) return false;
        return pts.get(pts.size() - 1).score() > pts.get(0).score();
    }

    /** Per behaviour: SAS monotone in the scale. */
    public static Map<String, Boolean> monotoneSas(LambdaSweep.Result r) {
        Map<String, Boolean> m = new LinkedHashMap<>();
        for (String b : r.rows().stream().map(LambdaSweep.Row::behaviour).distinct().toList()) m.put(b, monotone(r, b, "sas", 0));
        return m;
    }

    /**
     * The first held-out question of a behaviour answered greedily, unsteered and with its SAS vector
     * {@code v} at +scale and -scale.
     */
    public static Generation generate(Gemma2 model, Sae sae, Tokenizer tok, AbDataset d, SteeringVector v, Config c, double scale) {
        AbDataset.Split split = d.split(c.testSize(), c.seed());
        AbItem item = split.test().get(0);
        String prompt = PromptFormat.BASE.prompt(item.question()) + " (";
        int[] ids = tok.encode(prompt, true);
        Set<Integer> stops = new HashSet<>(Set.of(model.config().eosTokenId()));
        GenerationConfig g = GenerationConfig.greedy(c.maxNewTokens()).withStopTokens(stops);
        String[] out = new String[3];
        double[] scales = {0, scale, -scale};
        for (int i = 0; i < 3; i++) {
            if (scales[i] == 0) {
                out[i] = tok.decode(Generator.generate(model, ids, g, Hooks.NONE), true);
            } else {
                try (SparseSteerHook h = new SparseSteerHook(sae, v, scales[i], Positions.ALL, SparseSteerHook.Mode.FUSED)) {
                    out[i] = tok.decode(Generator.generate(model, ids, g, h.hooks()), true);
                }
            }
        }
        return new Generation(d.name(), item.question(), AbItem.letter(item.matching()), scale, cut(out[0]), cut(out[1]), cut(out[2]));
    }

    /** A continuation up to the end of its answer line (the model goes on with the next question). */
    private static String cut(String s) {
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
