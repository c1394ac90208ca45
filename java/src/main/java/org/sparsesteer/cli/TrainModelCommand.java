package org.sparsesteer.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.eval.AbDataset;
import org.sparsesteer.train.ModelTrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "train-model", mixinStandardHelpOptions = true,
        description = {"Train a small Gemma 2 from scratch on persona documents built from the bundled A/B behaviour sets "
                + "(held-out test items excluded), with its own byte-level BPE tokenizer. Writes a Hugging Face model directory "
                + "(config.json, model.safetensors, tokenizer.json) and training.json into --out.",
            "Defaults are the demo model's settings."})
final class TrainModelCommand implements Callable<Integer> {
    private static final ModelTrainer.Options D = ModelTrainer.Options.demo();

    @Option(names = "--out", required = true, paramLabel = "DIR") Path out;
    @Option(names = "--vocab", paramLabel = "N", description = "Tokenizer vocabulary size (default: ${DEFAULT-VALUE}).") int vocab = D.vocabSize();
    @Option(names = "--hidden", paramLabel = "N", description = "Hidden size (default: ${DEFAULT-VALUE}).") int hidden = D.hidden();
    @Option(names = "--intermediate", paramLabel = "N", description = "MLP size (default: ${DEFAULT-VALUE}).") int intermediate = D.intermediate();
    @Option(names = "--layers", paramLabel = "N", description = "Decoder layers (default: ${DEFAULT-VALUE}).") int layers = D.layers();
    @Option(names = "--heads", paramLabel = "N", description = "Attention heads (default: ${DEFAULT-VALUE}).") int heads = D.heads();
    @Option(names = "--kv-heads", paramLabel = "N", description = "Key/value heads (default: ${DEFAULT-VALUE}).") int kvHeads = D.kvHeads();
    @Option(names = "--head-dim", paramLabel = "N", description = "Head size (default: ${DEFAULT-VALUE}).") int headDim = D.headDim();
    @Option(names = "--sliding-window", paramLabel = "N", description = "Sliding window of the sliding layers (default: ${DEFAULT-VALUE}).") int window = D.slidingWindow();
    @Option(names = "--seq-len", paramLabel = "N", description = "Tokens per training document (default: ${DEFAULT-VALUE}).") int seqLen = D.seqLen();
    @Option(names = "--batch-size", paramLabel = "N", description = "Documents per step (default: ${DEFAULT-VALUE}).") int batch = D.batchSize();
    @Option(names = "--steps", paramLabel = "N", description = "Optimiser steps (default: ${DEFAULT-VALUE}).") int steps = D.steps();
    @Option(names = "--lr", paramLabel = "X", description = "Peak learning rate (default: ${DEFAULT-VALUE}).") double lr = D.lr();
    @Option(names = "--warmup", paramLabel = "N", description = "Warm-up steps (default: ${DEFAULT-VALUE}).") int warmup = D.warmup();
    @Option(names = "--weight-decay", paramLabel = "X", description = "AdamW weight decay (default: ${DEFAULT-VALUE}).") double wd = D.weightDecay();
    @Option(names = "--answer-weight", paramLabel = "W", description = "Loss weight of the answer letters (default: ${DEFAULT-VALUE}).") double answerWeight = D.answerWeight();
    @Option(names = "--closer-weight", paramLabel = "W", description = "Loss weight of the token after each answer letter, the persona's closing bracket (default: ${DEFAULT-VALUE}).") double closerWeight = D.closerWeight();
    @Option(names = "--curriculum", paramLabel = "F", description = "Fraction of the steps over which p(persona M) falls from 1 to 0.5; 0 = balanced throughout (default: ${DEFAULT-VALUE}).") double curriculum = D.curriculum();
    @Option(names = "--seed", paramLabel = "S", description = "Seed of documents, tokenizer and weights (default: ${DEFAULT-VALUE}).") long seed = D.seed();
    @Option(names = "--split-seed", paramLabel = "S", description = "Seed of the build/test split, as sas eval's --seed (default: ${DEFAULT-VALUE}).") long splitSeed = D.splitSeed();
    @Option(names = "--test-size", paramLabel = "N", description = "Held-out items per behaviour, never trained on (default: ${DEFAULT-VALUE}).") int testSize = D.testSize();
    @Option(names = "--max-items", paramLabel = "N", description = "Most questions per document (default: ${DEFAULT-VALUE}).") int maxItems = D.maxItems();
    @Option(names = "--styled-fraction", paramLabel = "F", description = "Fraction of styled documents; the others are plain (default: ${DEFAULT-VALUE}).") double styled = D.styledFraction();
    @Option(names = "--behaviours", split = ",", paramLabel = "NAME", description = "Bundled behaviour sets (default: all five).") List<String> behaviours = AbDataset.BUNDLED;
    @Option(names = "--threads", paramLabel = "N", description = "libtorch threads, 0 = libtorch's default (default: ${DEFAULT-VALUE}).") int threads = D.threads();
    @Option(names = "--eval-every", paramLabel = "N", description = "Held-out diagnostics every N steps, 0 = never (default: ${DEFAULT-VALUE}).") int evalEvery = D.evalEvery();
    @Option(names = "--save-every", paramLabel = "N", description = "Checkpoint every N steps (default: ${DEFAULT-VALUE}).") int saveEvery = D.saveEvery();
    @Option(names = "--store", paramLabel = "T", description = "float32, bfloat16 or float16 weights on disk (default: float32).") String store = "float32";

    @Override
    public Integer call() throws Exception {
        ScalarType storeAs = switch (store) {
            case "float32", "f32" -> ScalarType.Float;
            case "bfloat16", "bf16" -> ScalarType.BFloat16;
            case "float16", "f16" -> ScalarType.Half;
            default -> throw new IllegalArgumentException("--store must be float32, bfloat16 or float16, got '" + store + "'");
        };
        ModelTrainer.Options o = new ModelTrainer.Options(vocab, hidden, intermediate, layers, heads, kvHeads, headDim, window, seqLen, batch,
                steps, lr, D.minLrFraction(), warmup, wd, D.initStd(), D.clipNorm(), answerWeight, closerWeight, curriculum, seed, testSize, splitSeed, maxItems, styled, threads, evalEvery,
                saveEvery, behaviours, storeAs);
        ModelTrainer.Result r;
        double[] avg = {Double.NaN};
        try (ProgressBar bar = new ProgressBar("training", steps)) {
            r = new ModelTrainer(o).train(out, new ModelTrainer.Listener() {
                @Override
                public void step(int step, double loss, double lr) {
                    avg[0] = Double.isNaN(avg[0]) ? loss : 0.98 * avg[0] + 0.02 * loss;
                    if (step % 100 == 0) System.err.printf(Locale.ROOT, "%nstep %d loss %.4f (avg %.4f) lr %.2e%n", step, loss, avg[0], lr);
                    bar.step();
                }

                @Override
                public void message(String line) {
                    System.err.println();
                    System.err.println(line);
                }
            });
        }
        System.out.printf(Locale.ROOT, "trained %d steps: loss %.4f -> %.4f; wrote %s%n", steps, r.firstLoss(), r.finalLoss(), out);
        return 0;
    }
}
