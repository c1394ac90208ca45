package org.sparsesteer.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.global.torch;
import org.sparsesteer.demo.Demo;
import org.sparsesteer.eval.AbDataset;
import org.sparsesteer.eval.LambdaSweep;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Tokenizer;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeLoader;
import org.sparsesteer.steer.SteeringVector;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"SAS on the embedded demo model: a small Gemma 2 and its SAE, both trained by this project (no download, no GPU). "
                + "Builds SAS and dense CAA vectors for three behaviours from their build splits, sweeps the steering scale on the 50 "
                + "held-out test items of each, prints the behaviour score per scale, writes results.json, results.csv, plot.png and "
                + "the vectors into --out, and answers one held-out question steered both ways.",
            "Exits with 1 when the SAS score does not rise monotonically with the scale on every behaviour."})
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--quick", description = "Fewer scales (the same vectors and test items), for CI.")
    boolean quick;

    @Option(names = "--out", defaultValue = "sas-demo", paramLabel = "DIR", description = "Output directory (default: ./${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--scales", split = ",", paramLabel = "L", description = "Scales to sweep (default: -1 to 1 in steps of 0.25; --quick: steps of 0.5).")
    double[] scales;

    @Option(names = "--tau", paramLabel = "T", description = "SAS activation-frequency threshold (default: " + Demo.TAU + ").")
    Double tau;

    @Option(names = "--behaviours", split = ",", paramLabel = "NAME",
            description = "Bundled behaviour sets to steer (default: myopic-reward,coordinate-other-ais,corrigible-neutral-HHH; also "
                    + "power-seeking-inclination, survival-instinct).")
    List<String> behaviours;

    @Option(names = "--threads", defaultValue = "1", paramLabel = "N",
            description = "libtorch threads; the demo model is small enough that one is fastest (default: ${DEFAULT-VALUE}).")
    int threads;

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        if (threads > 0) torch.set_num_threads(threads);
        Demo.Config cfg = quick ? Demo.Config.quick() : Demo.Config.standard();
        if (scales != null) cfg = cfg.withScales(scales);
        if (tau != null) {
            if (!(tau > 0 && tau <= 1)) throw new IllegalArgumentException("--tau must be in (0, 1], got " + tau);
            cfg = cfg.withTau(tau);
        }
        if (behaviours != null) {
            for (String b : behaviours) {
                if (!AbDataset.BUNDLED.contains(b)) throw new IllegalArgumentException("--behaviours: unknown behaviour '" + b + "'; bundled: " + AbDataset.BUNDLED);
            }
            cfg = cfg.withBehaviours(behaviours);
        }
        Files.createDirectories(out);
        Path tmp = Files.createTempDirectory("sas-demo");
        try {
            Demo.extract(tmp);
            List<AbDataset> ds = Demo.datasets(cfg);
            try (Gemma2 model = Gemma2.load(tmp.resolve("model")); Tokenizer tok = Tokenizer.load(tmp.resolve("model"));
                 Sae sae = SaeLoader.load(tmp.resolve("sae"), null)) {
                System.out.printf(Locale.ROOT, "demo model: Gemma 2 architecture, %d layers, d=%d, vocab %d, %.2fM parameters (trained by sas train-model)%n",
                        model.config().numLayers(), model.config().hiddenSize(), model.config().vocabSize(), model.config().parameterCount() / 1e6);
                System.out.printf(Locale.ROOT, "SAE: %s, width %d%s at %s%n", sae.config().architecture().saeLensName, sae.width(),
                        sae.config().k() > 0 ? ", k=" + sae.config().k() : "", sae.config().hookName());
                System.out.printf(Locale.ROOT, "behaviours: %s; %d held-out test items each, the rest build the vectors%n%n", cfg.behaviours(), cfg.testSize());
                LambdaSweep.Config sc = cfg.sweep();
                LambdaSweep.Result r;
                try (ProgressBar bar = new ProgressBar("sweeping", LambdaSweep.units(ds, sc))) {
                    r = LambdaSweep.run(model, sae, tok, ds, sc, out, what -> bar.step());
                }
                r.info().put("model", "embedded: " + Demo.RESOURCES + "model/");
                r.info().put("sae", "embedded: " + Demo.RESOURCES + "sae/");   // not the temporary copy
                LambdaSweep.write(r, out);
                System.out.println("Behaviour score on held-out items (mean p(behaviour's answer) / (p(A) + p(B)); 0.5 = no preference):");
                System.out.print(LambdaSweep.table(r));
                Map<String, Boolean> mono = Demo.monotoneSas(r);
                System.out.println();
                mono.forEach((b, ok) -> System.out.printf("%s: SAS score %s with the scale%n", b, ok ? "rises monotonically" : "is NOT monotone"));
                double maxScale = 0;
                for (double s : cfg.scales()) maxScale = Math.max(maxScale, Math.abs(s));
                AbDataset first = ds.get(0);
                SteeringVector v = SteeringVector.read(out.resolve(first.name() + ".sas.safetensors"));
                Demo.Generation g;
                try (ProgressBar bar = new ProgressBar("generating", 1)) {
                    g = Demo.generate(model, sae, tok, first, v, cfg, maxScale);
                    bar.step();
                }
                System.out.printf(Locale.ROOT, "%nA held-out %s question (the behaviour's answer is (%s)):%n%s%n%nAnswer: (%n", g.behaviour(), g.matching(),
                        g.question());
                System.out.printf(Locale.ROOT, "  unsteered       : (%s%n", g.unsteered());
                System.out.printf(Locale.ROOT, "  SAS  λ = %+5.1f : (%s%n", g.scale(), g.plus());
                System.out.printf(Locale.ROOT, "  SAS  λ = %+5.1f : (%s%n", -g.scale(), g.minus());
                System.out.printf(Locale.ROOT, "%nwrote %s (results.json, results.csv, plot.png, vectors) in %.1fs%n", out.toAbsolutePath(),
                        (System.nanoTime() - t0) / 1e9);
                return mono.values().stream().allMatch(Boolean::booleanValue) ? 0 : 1;
            }
        } finally {
            try (var files = Files.walk(tmp)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
