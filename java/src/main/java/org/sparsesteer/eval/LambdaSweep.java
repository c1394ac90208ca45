package org.sparsesteer.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.sparsesteer.hooks.HookContext.Positions;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Tokenizer;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.steer.CaaVector;
import org.sparsesteer.steer.ContrastivePair;
import org.sparsesteer.steer.PromptFormat;
import org.sparsesteer.steer.SasBuilder;
import org.sparsesteer.steer.SparseSteerHook;
import org.sparsesteer.steer.SteeringVector;

/**
 * The evaluation of steering on A/B behaviours: per behaviour, a seeded split into build and
 * held-out test items, a SAS vector and a dense CAA vector from the build items, then for each
 * lambda the behaviour score on the test items and the mean KL divergence on neutral text.
 */
public final class LambdaSweep {
    public record Config(double[] scales, int testSize, long seed, double tau, int topK, PromptFormat format, int batchSize,
                         List<String> neutralTexts) {}

    /** One point: a behaviour, a method (sas or caa), a lambda, the score and the KL side effect. */
    public record Row(String behaviour, String method, double scale, double score, double kl) {}

    public record Result(List<Row> rows, Map<String, Object> info) {}

    /** Progress: called after each unit of work with a short label. */
    public interface Progress {
        void step(String what);
    }

    private LambdaSweep() {}

    /** Units of work {@link #run} reports, for sizing a progress bar. */
    public static long units(List<AbDataset> datasets, Config cfg) {
        long u = 0;
        for (AbDataset d : datasets) u += 2L * (d.items().size() - cfg.testSize()) + 2L * cfg.scales().length * (cfg.testSize() + cfg.neutralTexts().size());
        return u;
    }

    public static Result run(Gemma2 model, Sae sae, Tokenizer tok, List<AbDataset> datasets, Config cfg, Path vectorDir, Progress progress)
            throws IOException {
        sae.checkCompatible(model);
        BehaviourScore scorer = new BehaviourScore(model, tok, cfg.format(), cfg.batchSize());
        List<int[]> neutral = new ArrayList<>();
        for (String t : cfg.neutralTexts()) neutral.add(tok.encode(t, true));
        List<Row> rows = new ArrayList<>();
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("seed", cfg.seed());
        info.put("test_items", cfg.testSize());
        info.put("tau", cfg.tau());
        info.put("top_k", cfg.topK());
        info.put("hook", sae.config().hookName());
        info.put("sae", sae.config().source());
        info.put("format", cfg.format().name().toLowerCase());
        Map<String, Object> vectors = new LinkedHashMap<>();
        for (AbDataset d : datasets) {
            AbDataset.Split split = d.split(cfg.testSize(), cfg.seed());
            List<ContrastivePair> pairs = AbDataset.pairs(split.build(), tok, cfg.format());
            // One pass over the build pairs serves both methods: last-token activations at the SAE's hook.
            SteeringVector sas;
            CaaVector caa;
            try (Tensor xp = SasBuilder.lastTokenActivations(model, sae.hook(), pairs.stream().map(ContrastivePair::positive).toList(),
                         cfg.batchSize(), n -> progress.step(d.name() + ": activations"));
                 Tensor xn = SasBuilder.lastTokenActivations(model, sae.hook(), pairs.stream().map(ContrastivePair::negative).toList(),
                         cfg.batchSize(), n -> progress.step(d.name() + ": activations"))) {
                sas = new SasBuilder(model, sae).tau(cfg.tau()).topK(cfg.topK()).batchSize(cfg.batchSize()).build(xp, xn, d.name(), null);
                caa = CaaVector.fromActivations(xp, xn, sae.config().hookName());
            }
            if (vectorDir != null) {
                sas.write(vectorDir.resolve(d.name() + ".sas.safetensors"));
                caa.write(vectorDir.resolve(d.name() + ".caa.safetensors"));
            }
            Map<String, Object> vi = new LinkedHashMap<>();
            vi.put("build_items", split.build().size());
            vi.put("s_pos", Integer.parseInt(sas.metadata().get("s_pos")));
            vi.put("s_neg", Integer.parseInt(sas.metadata().get("s_neg")));
            vi.put("sas_features", sas.size());
            vectors.put(d.name(), vi);
            for (String method : new String[] {"sas", "caa"}) {
                for (double lambda : cfg.scales()) {
                    SparseSteerHook sh = method.equals("sas") ? new SparseSteerHook(sae, sas, lambda, Positions.ALL, SparseSteerHook.Mode.FUSED) : null;
                    try {
                        Hooks hooks = sh != null ? sh.hooks() : caa.hooks(lambda, Positions.ALL);
                        double score = scorer.score(split.test(), hooks, () -> progress.step(d.name() + ": " + method + " λ=" + lambda));
                        double kl = lambda == 0 ? 0 : KlDivergence.mean(model, neutral, hooks);
                        for (int i = 0; i < neutral.size(); i++) progress.step(d.name() + ": KL");
                        rows.add(new Row(d.name(), method, lambda, score, kl));
                    } finally {
                        if (sh != null) sh.close();
                    }
                }
            }
        }
        info.put("vectors", vectors);
        return new Result(rows, info);
    }

    /** results.json, results.csv and plot.png (score against lambda, SAS solid and CAA dashed). */
    public static void write(Result r, Path dir) throws IOException {
        Files.createDirectories(dir);
        Map<String, Object> json = new LinkedHashMap<>(r.info());
        json.put("rows", r.rows());
        writeAtomically(dir.resolve("results.json"), new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(json));
        StringBuilder csv = new StringBuilder("behaviour,method,scale,score,kl\n");
        for (Row row : r.rows()) csv.append(String.format(java.util.Locale.ROOT, "%s,%s,%s,%.6f,%.6f%n", row.behaviour(), row.method(), row.scale(), row.score(), row.kl()));
        writeAtomically(dir.resolve("results.csv"), csv.toString());
        LinePlot plot = new LinePlot("Behaviour score vs steering scale (SAS solid, CAA dashed)", "lambda", "behaviour score").yRange(0, 1);
        List<String> behaviours = r.rows().stream().map(Row::behaviour).distinct().toList();
        for (int b = 0; b < behaviours.size(); b++) {
            for (String method : new String[] {"sas", "caa"}) {
                String name = behaviours.get(b);
                List<Row> pts = r.rows().stream().filter(x -> x.behaviour().equals(name) && x.method().equals(method)).toList();
                if (pts.isEmpty()) continue;
                plot.add(new LinePlot.Series(name + " (" + method.toUpperCase() + ")", pts.stream().mapToDouble(Row::scale).toArray(),
                        pts.stream().mapToDouble(Row::score).toArray(), b, method.equals("caa")));
            }
        }
        plot.write(dir.resolve("plot.png"));
    }

    private static void writeAtomically(Path target, String text) throws IOException {
        org.sparsesteer.io.AtomicFiles.writeString(target, text);
    }

    /** The built-in neutral sentences used for the KL side effect. */
    public static List<String> defaultNeutralTexts() {
        try (InputStream in = LambdaSweep.class.getResourceAsStream("neutral.txt")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).toList();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A plain-text table: behaviour score per lambda, SAS and CAA side by side. */
    public static String table(Result r) {
        StringBuilder s = new StringBuilder();
        List<Double> scales = r.rows().stream().map(Row::scale).distinct().sorted().toList();
        s.append(String.format("%-34s", "behaviour / method"));
        for (double l : scales) s.append(String.format("%9s", "λ=" + (l == Math.rint(l) ? Long.toString((long) l) : Double.toString(l))));
        s.append('\n');
        for (String b : r.rows().stream().map(Row::behaviour).distinct().toList()) {
            for (String m : new String[] {"sas", "caa"}) {
                s.append(String.format("%-34s", b + " " + m.toUpperCase()));
                for (double l : scales) {
                    r.rows().stream().filter(x -> x.behaviour().equals(b) && x.method().equals(m) && x.scale() == l).findFirst()
                            .ifPresentOrElse(x -> s.append(String.format("%9.3f", x.score())), () -> s.append(String.format("%9s", "-")));
                }
                s.append('\n');
            }
        }
        return s.toString();
    }
}
