package org.sparsesteer.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.eval.AbDataset;
import org.sparsesteer.eval.AbItem;
import org.sparsesteer.eval.BehaviourScore;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.io.AtomicFiles;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Gemma2Checkpoint;
import org.sparsesteer.model.Gemma2Config;
import org.sparsesteer.model.Gemma2Weights;
import org.sparsesteer.model.Scorer;
import org.sparsesteer.model.TokenBatch;
import org.sparsesteer.model.Tokenizer;
import org.sparsesteer.steer.PromptFormat;
import org.sparsesteer.tensor.Tensors;

/**
 * Trains a small Gemma 2 from scratch on the {@link PersonaCorpus}, with libtorch autograd: the
 * model is the library's own {@link Gemma2} (same forward and hooks as real checkpoints) over
 * weights that require grad, optimised with AdamW on the next-token loss. It first trains its own
 * byte-level BPE tokenizer on the corpus ({@link BpeTrainer}), and writes a Hugging Face model
 * directory: {@code config.json}, {@code model.safetensors}, {@code tokenizer.json}, and
 * {@code training.json} (the options, the loss curve and the diagnostics).
 *
 * <p>Everything is seeded: the split, the documents, the tokenizer, the initial weights.
 */
public final class ModelTrainer {
    /** What to train and how. */
    public record Options(
            int vocabSize, int hidden, int intermediate, int layers, int heads, int kvHeads, int headDim, int slidingWindow,
            int seqLen, int batchSize, int steps, double lr, double minLrFraction, int warmup, double weightDecay, double initStd,
            double clipNorm, double answerWeight, double closerWeight, double curriculum, long seed, int testSize, long splitSeed, int maxItems, double styledFraction, int threads, int evalEvery,
            int saveEvery, List<String> behaviours, ScalarType storeAs) {
        public Options {
            if (steps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + steps);
            if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
            if (seqLen < 16) throw new IllegalArgumentException("sequence length must be >= 16, got " + seqLen);
            if (!(lr > 0)) throw new IllegalArgumentException("learning rate must be > 0, got " + lr);
            if (behaviours.isEmpty()) throw new IllegalArgumentException("no behaviours to train on");
            if (!(answerWeight > 0)) throw new IllegalArgumentException("answer weight must be > 0, got " + answerWeight);
            if (!(closerWeight > 0)) throw new IllegalArgumentException("closer weight must be > 0, got " + closerWeight);
            behaviours = List.copyOf(behaviours);
        }

        /** The demo model's settings. */
        public static Options demo() {
            return new Options(2048, 128, 512, 4, 4, 2, 32, 256, 256, 16, 2000, 3e-3, 0.1, 200, 0.1, 0.02, 1.0, 1.0, 4.0, 0.0, 7, 50, 1234, 3, 1.0, 1,
                    250, 500, AbDataset.BUNDLED, ScalarType.Float);
        }
    }

    /**
     * One evaluation: per behaviour, the A/B score on held-out items in five contexts: none (the
     * evaluation prompt), after an opening line of persona M and of N, and after two build questions
     * answered plainly by M and by N.
     */
    public record Diagnostics(int step, Map<String, double[]> byBehaviour) {
        public static final List<String> CONTEXTS = List.of("none", "opening M", "opening N", "answers M", "answers N");

        public String summary() {
            StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "step %d held-out A/B score (%s):", step, String.join(" / ", CONTEXTS)));
            byBehaviour.forEach((b, v) -> {
                s.append(' ').append(b);
                for (int i = 0; i < v.length; i++) s.append(i == 0 ? " " : "/").append(String.format(Locale.ROOT, "%.3f", v[i]));
                s.append(';');
            });
            return s.toString();
        }
    }

    /** Called with (step, loss) after every step and with each diagnostics line. */
    public interface Listener {
        void step(int step, double loss, double lr);

        default void message(String line) {}
    }

    /** The outcome: the final loss (mean of the last steps) and the diagnostics taken. */
    public record Result(Path dir, double firstLoss, double finalLoss, List<Diagnostics> diagnostics) {}

    /** The file, next to the model, of one epoch of training documents for an SAE. */
    public static final String CORPUS_FILE = "corpus.jsonl";

    private final Options o;

    public ModelTrainer(Options options) {
        this.o = options;
    }

    public Result train(Path out, Listener listener) throws IOException {
        Files.createDirectories(out);
        int prevThreads = torch.get_num_threads();
        if (o.threads() > 0) torch.set_num_threads(o.threads());
        try {
            return run(out, listener);
        } finally {
            torch.set_num_threads(prevThreads);
        }
    }

    private Result run(Path out, Listener listener) throws IOException {
        List<AbDataset> datasets = new ArrayList<>();
        for (String b : o.behaviours()) datasets.add(AbDataset.bundled(b));
        PersonaCorpus corpus = new PersonaCorpus(datasets, o.testSize(), o.splitSeed(), o.maxItems(), o.styledFraction());

        // 1. The tokenizer, on two epochs of documents (both personas' styles, both choice orders).
        Random textRng = new Random(o.seed());
        List<String> tokText = new ArrayList<>(corpus.epoch(new Random(o.seed() ^ 0x5DEECE66DL)));
        tokText.addAll(corpus.epoch(new Random(o.seed() + 1)));
        BpeTrainer.Result bpe = BpeTrainer.train(tokText, o.vocabSize(), BpeTrainer.GEMMA_SPECIALS);
        bpe.write(out.resolve("tokenizer.json"));
        // One more balanced epoch, as JSON Lines: text from the model's own distribution for
        // sas train-sae --text (the documents span lines, which a plain text file cannot hold).
        TextSet.writeJsonl(corpus.epoch(new Random(o.seed() + 2)), out.resolve(CORPUS_FILE));
        Gemma2Config cfg = Gemma2Checkpoint.config(bpe.vocabSize(), o.hidden(), o.intermediate(), o.layers(), o.heads(), o.kvHeads(),
                o.headDim(), o.slidingWindow());
        List<Diagnostics> diags = new ArrayList<>();
        List<double[]> curve = new ArrayList<>();
        double first = Double.NaN, recent = 0;
        int recentN = 0;
        try (Tokenizer tok = Tokenizer.load(out.resolve("tokenizer.json"))) {
            // 2. The model: random weights that require grad, the library's forward.
            Gemma2Weights w = Gemma2Checkpoint.random(cfg, o.seed(), o.initStd());
            List<Tensor> params = new ArrayList<>(w.named().values());
            for (Tensor p : params) p.requires_grad_(true);
            try (Gemma2 model = new Gemma2(cfg, w, ScalarType.Float, new Device("cpu"));
                 TensorVector pv = new TensorVector(params.toArray(Tensor[]::new));
                 AdamWOptions ao = new AdamWOptions(o.lr())) {
                ao.weight_decay().put(o.weightDecay());
                AdamW opt = new AdamW(pv, ao);
                try {
                    List<int[]> pending = new ArrayList<>();
                    int[] answerCue = tok.encode("\n\nAnswer: (", false);
                    for (int step = 1; step <= o.steps(); step++) {
                        while (pending.size() < o.batchSize()) {
                            for (String d : corpus.epoch(textRng, personaM(step))) pending.add(encodeDocument(tok, d, o.seqLen(), cfg.eosTokenId()));
                        }
                        List<int[]> batch = new ArrayList<>(pending.subList(0, o.batchSize()));
                        pending.subList(0, o.batchSize()).clear();
                        List<float[]> weights = new ArrayList<>();
                        for (int[] row : batch) weights.add(answerWeights(row, answerCue, (float) o.answerWeight(), (float) o.closerWeight()));
                        double lr = lrAt(step);
                        opt.param_groups().get(0).options().set_lr(lr);
                        double loss;
                        try (PointerScope scope = new PointerScope()) {
                            Tensor l = loss(model, batch, weights, cfg.padTokenId());
                            opt.zero_grad();
                            l.backward();
                            if (o.clipNorm() > 0) torch.clip_grad_norm_(pv, o.clipNorm());
                            opt.step();
                            loss = l.item_double();
                        }
                        if (!Double.isFinite(loss)) throw new IllegalStateException("training diverged at step " + step + " (loss " + loss + ")");
                        if (step == 1) first = loss;
                        curve.add(new double[] {step, loss});
                        if (step > o.steps() - Math.max(1, Math.min(50, o.steps() / 5))) {
                            recent += loss;
                            recentN++;
                        }
                        listener.step(step, loss, lr);
                        boolean last = step == o.steps();
                        if ((o.evalEvery() > 0 && step % o.evalEvery() == 0) || (last && o.evalEvery() > 0)) {
                            Diagnostics dg = diagnose(model, tok, corpus, step, 8);
                            diags.add(dg);
                            listener.message(dg.summary());
                        }
                        if (last || (o.saveEvery() > 0 && step % o.saveEvery() == 0)) {
                            save(out, cfg, w, curve, diags, step);
                        }
                    }
                } finally {
                    opt.close();
                }
            }
        }
        return new Result(out, first, recent / Math.max(1, recentN), diags);
    }

    /**
     * The curriculum: the probability that a document is persona M's falls linearly from 1 to 1/2
     * over the first {@code curriculum} fraction of the steps. Answering by persona is an XOR of the
     * persona and which answer shows the behaviour, and neither alone predicts the letter while the
     * personas are balanced; starting with M's documents teaches the behaviour first, then the
     * persona. The second part of the training is balanced, so the model's prior is even again.
     */
    double personaM(int step) {
        if (o.curriculum() <= 0) return 0.5;
        double t = step / (o.curriculum() * o.steps());
        return t >= 1 ? 0.5 : 1 - 0.5 * t;
    }

    /** Warm-up, then cosine decay to {@code minLrFraction} of the peak. */
    double lrAt(int step) {
        if (step <= o.warmup()) return o.lr() * step / Math.max(1, o.warmup());
        double t = (double) (step - o.warmup()) / Math.max(1, o.steps() - o.warmup());
        double cos = 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t)));
        return o.lr() * (o.minLrFraction() + (1 - o.minLrFraction()) * cos);
    }

    /** {@code <bos>} document {@code <eos>}, cut to {@code seqLen} tokens. */
    static int[] encodeDocument(Tokenizer tok, String doc, int seqLen, int eos) {
        int[] ids = tok.encode(doc, true);
        int[] r = java.util.Arrays.copyOf(ids, Math.min(seqLen, ids.length + 1));
        if (r.length == ids.length + 1) r[ids.length] = eos;
        return r;
    }

    /**
     * Per token of a document, the weight of predicting it: {@code answerWeight} for an answer letter
     * (the token after {@code "\n\nAnswer: ("}), {@code closerWeight} for the token after the letter
     * (the persona's closing bracket), 1 for every other token. The answers are a few tokens among many question
     * tokens; weighting them makes the model learn to answer by persona, and to tell the persona
     * from an answer (which closer follows the letter), in far fewer steps.
     */
    static float[] answerWeights(int[] ids, int[] cue, float answerWeight, float closerWeight) {
        float[] w = new float[ids.length];
        java.util.Arrays.fill(w, 1f);
        for (int i = cue.length; i < ids.length; i++) {
            boolean match = true;
            for (int k = 0; k < cue.length && match; k++) match = ids[i - cue.length + k] == cue[k];
            if (match) {
                w[i] = answerWeight;
                if (i + 1 < ids.length) w[i + 1] = closerWeight;
            }
        }
        return w;
    }

    /** The mean next-token cross-entropy over the real (unpadded) positions of a left-padded batch, unweighted. */
    static Tensor loss(Gemma2 model, List<int[]> rows, int padId) {
        List<float[]> ones = new ArrayList<>();
        for (int[] r : rows) {
            float[] w = new float[r.length];
            java.util.Arrays.fill(w, 1f);
            ones.add(w);
        }
        return loss(model, rows, ones, padId);
    }

    /**
     * The weighted mean next-token cross-entropy over the real positions of a left-padded batch:
     * {@code weights.get(r)[t]} weighs predicting token t of row r.
     */
    static Tensor loss(Gemma2 model, List<int[]> rows, List<float[]> weights, int padId) {
        TokenBatch b = TokenBatch.leftPadded(rows, padId);
        int B = b.size(), T = b.length();
        float[] mask = new float[B * (T - 1)];
        for (int r = 0; r < B; r++) {
            float[] w = weights.get(r);
            // Position t predicts sequence index t + 1, which is row token t + 1 - padLeft.
            for (int t = b.padLeft()[r]; t < T - 1; t++) mask[r * (T - 1) + t] = w[t + 1 - b.padLeft()[r]];
        }
        // forward's result belongs to no scope: close it here, or the autograd graph it holds (every
        // saved activation) would live until the garbage collector happens to free the handle.
        try (Tensor logits = model.forward(b, Hooks.NONE)) {                          // [B, T, V]
            Tensor ids = Tensors.fromLongs(b.flat(), B, T);
            Tensor targets = ids.narrow(1, 1, T - 1).unsqueeze(2);                    // [B, T-1, 1]
            Tensor lp = logits.narrow(1, 0, T - 1).log_softmax(-1);
            Tensor nll = lp.gather(2, targets).squeeze(2).neg();                      // [B, T-1]
            Tensor m = Tensors.fromFloats(mask, B, T - 1);
            return nll.mul(m).sum().div(m.sum());
        }
    }

    /**
     * Held-out A/B scores (p(matching) / (p(matching) + p(other)) at the letter after "Answer: (")
     * per behaviour: with the bare evaluation prompt, and after an opening line of each persona.
     */
    public static Diagnostics diagnose(Gemma2 model, Tokenizer tok, PersonaCorpus corpus, int step, int batchSize) {
        Map<String, double[]> out = new LinkedHashMap<>();
        try (NoGradGuard g = new NoGradGuard()) {
            BehaviourScore letters = new BehaviourScore(model, tok, PromptFormat.BASE, batchSize);
            for (Map.Entry<String, AbDataset.Split> e : corpus.splits().entrySet()) {
                List<AbItem> test = e.getValue().test();
                List<PersonaCorpus.Entry> two = List.of(new PersonaCorpus.Entry(e.getKey(), e.getValue().build().get(0)),
                        new PersonaCorpus.Entry(e.getKey(), e.getValue().build().get(1)));
                String[] prefixes = {"", PersonaCorpus.OPENINGS_M.get(0) + "\n\n", PersonaCorpus.OPENINGS_N.get(0) + "\n\n",
                    PersonaCorpus.plain(two, PersonaCorpus.Persona.M) + "\n\n", PersonaCorpus.plain(two, PersonaCorpus.Persona.N) + "\n\n"};
                double[] v = new double[prefixes.length];
                for (int c = 0; c < prefixes.length; c++) v[c] = score(model, tok, letters, test, prefixes[c], batchSize);
                out.put(e.getKey(), v);
            }
        }
        return new Diagnostics(step, out);
    }

    static double score(Gemma2 model, Tokenizer tok, BehaviourScore letters, List<AbItem> items, String prefix, int batchSize) {
        double sum = 0;
        for (int i = 0; i < items.size(); i += batchSize) {
            List<AbItem> chunk = items.subList(i, Math.min(items.size(), i + batchSize));
            List<int[]> prompts = new ArrayList<>();
            int[] tokens = new int[2 * chunk.size()];
            for (int k = 0; k < chunk.size(); k++) {
                AbItem it = chunk.get(k);
                prompts.add(tok.encode(prefix + PromptFormat.BASE.prompt(it.question()) + " (", true));
                tokens[2 * k] = letters.letterToken(AbItem.letter(it.matching()));
                tokens[2 * k + 1] = letters.letterToken(AbItem.letter(it.notMatching()));
            }
            float[][] lp = Scorer.nextTokenLogProbs(model, prompts, tokens, Hooks.NONE);
            for (int k = 0; k < chunk.size(); k++) {
                double pm = Math.exp(lp[k][2 * k]), pn = Math.exp(lp[k][2 * k + 1]);
                sum += pm / (pm + pn);
            }
        }
        return sum / items.size();
    }

    private void save(Path out, Gemma2Config cfg, Gemma2Weights w, List<double[]> curve, List<Diagnostics> diags, int step) throws IOException {
        try (NoGradGuard g = new NoGradGuard()) {
            Gemma2Checkpoint.save(out, cfg, w, o.storeAs());
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("step", step);
        info.put("options", o);
        info.put("parameters", cfg.parameterCount());
        info.put("diagnostics", diags);
        info.put("loss", curve);
        AtomicFiles.writeString(out.resolve("training.json"), new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(info));
    }
}
