package org.sparsesteer.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.sparsesteer.eval.AbDataset;
import org.sparsesteer.eval.LambdaSweep;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Tokenizer;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Sweep the steering scale on held-out A/B items of behaviour datasets: SAS and dense CAA side by side, with the KL side effect on neutral text. Writes results.json, results.csv, plot.png and the vectors into --out.")
final class EvalCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--sae", required = true, paramLabel = "PATH")
    Path saePath;

    @Option(names = "--hook", paramLabel = "HOOK")
    String hook;

    @Option(names = "--dataset", required = true, paramLabel = "FILE", description = "A/B behaviour JSONL (repeatable).")
    List<Path> datasets = new ArrayList<>();

    @Option(names = "--scales", split = ",", defaultValue = "-8,-4,0,4,8", paramLabel = "L", description = "Scales to sweep (default: ${DEFAULT-VALUE}).")
    double[] scales;

    @Option(names = "--test-size", defaultValue = "50", paramLabel = "N", description = "Held-out test items per behaviour (default: ${DEFAULT-VALUE}).")
    int testSize;

    @Option(names = "--seed", defaultValue = "1234", paramLabel = "S", description = "Seed of the build/test split (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--tau", defaultValue = "0.5", paramLabel = "T")
    double tau;

    @Option(names = "--top-k", defaultValue = "0", paramLabel = "K")
    int topK;

    @Option(names = "--format", defaultValue = "base", paramLabel = "F", description = "base or chat (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--batch-size", defaultValue = "8", paramLabel = "B")
    int batchSize;

    @Option(names = "--out", required = true, paramLabel = "DIR")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (!(tau >= 0 && tau <= 1)) throw new IllegalArgumentException("--tau must be in [0, 1], got " + tau);
        List<AbDataset> ds = new ArrayList<>();
        for (Path p : datasets) ds.add(AbDataset.read(p));
        LambdaSweep.Config cfg = new LambdaSweep.Config(scales, testSize, seed, tau, topK, BuildCommand.parseFormat(format), batchSize,
                LambdaSweep.defaultNeutralTexts());
        try (Gemma2 model = modelOptions.load(); Sae sae = SaeLoader.loadFor(model, saePath, hook); Tokenizer tok = Tokenizer.load(modelOptions.model)) {
            java.nio.file.Files.createDirectories(out);
            LambdaSweep.Result r;
            try (ProgressBar bar = new ProgressBar("evaluating", LambdaSweep.units(ds, cfg))) {
                r = LambdaSweep.run(model, sae, tok, ds, cfg, out, what -> bar.step());
            }
            LambdaSweep.write(r, out);
            System.out.print(LambdaSweep.table(r));
            System.out.println("wrote " + out.resolve("results.json") + ", results.csv, plot.png");
        }
        return 0;
    }
}
