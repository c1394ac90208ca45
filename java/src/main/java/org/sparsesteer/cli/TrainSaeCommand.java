package org.sparsesteer.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Tokenizer;
import org.sparsesteer.train.SaeTrainer;
import org.sparsesteer.train.SaeTrainingOptions;
import org.sparsesteer.train.TextSet;
import org.sparsesteer.train.TrainedSae;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "train-sae", mixinStandardHelpOptions = true,
        description = "Train a sparse autoencoder (topk, jumprelu or standard) on the model's activations at a hook and write it as a SAELens directory.")
final class TrainSaeCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--hook", required = true, paramLabel = "HOOK", description = "Where the SAE reads, e.g. blocks.12.hook_resid_post.")
    String hook;

    static final class Texts {
        @Option(names = "--text", paramLabel = "FILE", description = "One text per line (a *.jsonl file: one JSON string or {\"text\": ...} per line), tokenised with the model's tokenizer.json (<bos> prepended).")
        Path text;

        @Option(names = "--ids-file", paramLabel = "FILE", description = "One comma-separated token id sequence per line (for models without a tokenizer).")
        Path ids;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Texts texts;

    @Option(names = "--architecture", required = true, paramLabel = "A", description = "topk, jumprelu or standard.")
    String architecture;

    @Option(names = "--width", required = true, paramLabel = "M", description = "Number of features (d_sae).")
    int width;

    @Option(names = "--k", defaultValue = "0", paramLabel = "K", description = "Active features per row of a topk SAE.")
    int k;

    @Option(names = "--l0-coefficient", defaultValue = "1e-3", paramLabel = "C", description = "JumpReLU's L0 penalty (default: ${DEFAULT-VALUE}).")
    double l0Coefficient;

    @Option(names = "--bandwidth", defaultValue = "1e-3", paramLabel = "EPS",
            description = "JumpReLU's straight-through kernel width, in units where E||x||^2 = d_in (default: ${DEFAULT-VALUE}).")
    double bandwidth;

    @Option(names = "--init-threshold", defaultValue = "1e-3", paramLabel = "T",
            description = "JumpReLU's initial threshold, same units (default: ${DEFAULT-VALUE}).")
    double initThreshold;

    @Option(names = "--l1-coefficient", defaultValue = "1e-3", paramLabel = "C", description = "The standard SAE's L1 penalty (default: ${DEFAULT-VALUE}).")
    double l1Coefficient;

    @Option(names = "--steps", paramLabel = "N", description = "Optimiser steps (default: 1000 unless --epochs is given).")
    Long steps;

    @Option(names = "--epochs", paramLabel = "E", description = "Passes over the training rows, instead of --steps.")
    Double epochs;

    @Option(names = "--batch-size", defaultValue = "1024", paramLabel = "B", description = "Activation rows per step (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr", defaultValue = "3e-4", paramLabel = "LR", description = "Adam learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "Seed of the initialisation and the data order (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--context-size", defaultValue = "128", paramLabel = "T", description = "Longer texts are cut into windows of T tokens (default: ${DEFAULT-VALUE}).")
    int contextSize;

    @Option(names = "--eval-fraction", defaultValue = "0.1", paramLabel = "F", description = "Fraction of the texts held out for the metrics (default: ${DEFAULT-VALUE}).")
    double evalFraction;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output SAELens directory (cfg.json + sae_weights.safetensors).")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (steps != null && epochs != null) throw new IllegalArgumentException("give --steps or --epochs, not both");
        SaeTrainingOptions options = new SaeTrainingOptions().hook(hook).architecture(architecture).width(width).k(k)
                .l0Coefficient(l0Coefficient).bandwidth(bandwidth).initThreshold(initThreshold).l1Coefficient(l1Coefficient).lr(lr).batchSize(batchSize).seed(seed)
                .contextSize(contextSize).evalFraction(evalFraction).modelName(modelOptions.model.toString())
                .steps(epochs != null ? 0 : steps != null ? steps : 1000).epochs(epochs != null ? epochs : 0);
        // An empty text file fails before the model and the tokenizer load.
        List<String> lines = texts.text != null ? named("--text", () -> TextSet.lines(texts.text)) : null;
        try (Gemma2 model = modelOptions.load()) {
            options.validate(model.config());
            List<int[]> seqs;
            if (lines != null) {
                if (!Files.exists(modelOptions.model.resolve("tokenizer.json"))) {
                    throw new IllegalArgumentException("--text needs the model's tokenizer.json, which " + modelOptions.model
                            + " does not have: give token ids with --ids-file");
                }
                try (Tokenizer tok = Tokenizer.load(modelOptions.model)) {
                    seqs = TextSet.tokenize(lines, tok);
                }
            } else {
                seqs = named("--ids-file", () -> TextSet.readIds(texts.ids, model.config().vocabSize()));
            }
            // The bar is made at the first step, when the trainer knows the step count (--epochs).
            ProgressBar[] bar = {null};
            TrainedSae trained;
            try {
                trained = new SaeTrainer(model, options).onProgress((step, total, loss, l0) -> {
                    if (bar[0] == null) bar[0] = new ProgressBar("training SAE", total);
                    bar[0].status(String.format(Locale.ROOT, "loss %-9.4g L0 %-7.1f", loss, l0));
                    bar[0].step();
                }).train(seqs);
            } finally {
                if (bar[0] != null) bar[0].close();
            }
            try (TrainedSae t = trained) {
                t.save(out);
                System.out.println(t.report().summary());
                System.out.println("wrote " + out);
            }
        }
        return 0;
    }

    private interface Read<T> {
        T get();
    }

    /** Prefixes a bad-input error with the option that named the file. */
    private static <T> T named(String option, Read<T> read) {
        try {
            return read.get();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(option + " " + e.getMessage(), e);
        }
    }
}
