package org.sparsesteer.train;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeConfig.Architecture;
import org.sparsesteer.tensor.Tensors;

/**
 * Trains a sparse autoencoder on a model's activations at one hook, streamed from the model over a
 * set of token sequences (see {@link ActivationStream}), with Adam:
 * <pre>
 *   topk:     loss = ||x - x^||^2 (+ AuxK / 32 on dead features)
 *   jumprelu: loss = ||x - x^||^2 + l0_coefficient . L0     (threshold via straight-through estimators)
 *   standard: loss = ||x - x^||^2 + l1_coefficient . sum f  (unit-norm decoder rows)
 * </pre>
 * per row, averaged over the batch. Activations are scaled by one constant so that E||x||^2 = d_in
 * (Gemma Scope's convention, which makes the bandwidth, the initial threshold and the coefficients
 * mean the same at every layer); the scale is folded out of the result, which reads raw activations
 * ({@code normalize_activations: none}).
 *
 * <p>Some texts (a seeded random {@code evalFraction} of them) are held out: the metrics are measured
 * there. Everything random comes from one generator seeded with {@code seed} (and the text order from
 * a {@code Random} with the same seed), so a rerun with the same inputs gives the same weights.
 */
public final class SaeTrainer {
    /** Called after every step with the step's objective and mean L0. */
    @FunctionalInterface
    public interface Progress {
        void step(long step, long steps, double loss, double l0);
    }

    private final Gemma2 model;
    private final SaeTrainingOptions o;
    private Progress progress = (step, steps, loss, l0) -> {};

    public SaeTrainer(Gemma2 model, SaeTrainingOptions options) {
        this.model = model;
        this.o = options;
    }

    public SaeTrainer onProgress(Progress p) {
        this.progress = p;
        return this;
    }

    /** Trains on token sequences (each a text, BOS first); at least two, since some are held out. */
    public TrainedSae train(List<int[]> texts) {
        o.validate(model.config());
        if (texts.size() < 2) {
            throw new IllegalArgumentException("--text: need at least 2 texts (some are held out for evaluation), got " + texts.size());
        }
        long started = System.nanoTime();
        HookPoint point = HookPoint.parse(o.hook);
        Device device = o.device != null ? o.device : model.device();
        int d = model.config().hiddenSize(), bos = model.config().bosTokenId();

        List<int[]> shuffled = new ArrayList<>(texts);
        Collections.shuffle(shuffled, new Random(o.seed));
        int nEval = (int) Math.max(1, Math.min(texts.size() - 1, Math.round(texts.size() * o.evalFraction)));
        List<int[]> eval = ActivationStream.windows(shuffled.subList(0, nEval), o.contextSize, bos);
        List<int[]> train = ActivationStream.windows(shuffled.subList(nEval, shuffled.size()), o.contextSize, bos);

        int capacity = (int) Math.min(Integer.MAX_VALUE / 2, (long) o.batchSize * o.bufferBatches);
        try (Generator g = torch.createCPUGenerator(o.seed); GeneratorOptional gen = new GeneratorOptional(g);
             ActivationStream stream = new ActivationStream(model, point, train, o.excludeBos, capacity, device, o.seed, gen);
             Tensor evalRows = ActivationStream.rows(model, point, eval, bos, o.excludeBos, o.maxEvalRows)) {
            if (evalRows.size(0) == 0) throw new IllegalArgumentException("--text: the held-out texts have no tokens besides <bos>");
            long steps = o.steps > 0 ? o.steps : Math.max(1, (long) Math.ceil(o.epochs * stream.rowsPerEpoch() / o.batchSize));

            double scale;
            SaeModule module;
            try (PointerScope s = new PointerScope(); Tensor sample = stream.peek(Math.min(capacity, 8192))) {
                double meanSq = sample.pow(new Scalar(2)).sum(new long[] {-1}, false, new ScalarTypeOptional()).mean().item_double();
                scale = meanSq > 0 ? Math.sqrt(d / meanSq) : 1;
                module = SaeModule.init(o, d, sample.mul(new Scalar(scale)), gen, device);
            }
            try (SaeModule m = module) {
                float[][] curves = optimise(m, stream, steps, scale, device);
                Sae sae = m.toSae(o.hook, scale);
                try {
                    SaeEvaluation ev = SaeEvaluation.of(sae, evalRows, o.batchSize);
                    int tail = (int) Math.max(1, steps / 20);
                    double finalLoss = 0;
                    for (int i = curves[0].length - tail; i < curves[0].length; i++) finalLoss += curves[0][i];
                    finalLoss /= tail;
                    SaeTrainingReport r = new SaeTrainingReport(o.architecture.saeLensName, o.hook, d, o.width,
                            o.architecture == Architecture.TOPK ? o.k : 0, steps, o.batchSize, steps * o.batchSize, stream.rowsPerEpoch(),
                            scale, curves[0], curves[1], finalLoss, ev, (System.nanoTime() - started) / 1e9);
                    return new TrainedSae(sae, r, o.toJson(), o.modelName);
                } catch (RuntimeException e) {
                    sae.close();
                    throw e;
                }
            }
        }
    }

    /** The training loop; returns the per-step objective and mean L0. */
    private float[][] optimise(SaeModule m, ActivationStream stream, long steps, double scale, Device device) {
        if (steps > Integer.MAX_VALUE) throw new IllegalArgumentException("--steps must be < 2^31, got " + steps);
        float[] losses = new float[(int) steps], l0s = new float[(int) steps];
        try (TensorVector params = m.parameters(); AdamOptions ao = new AdamOptions(o.lr); Adam opt = new Adam(params, ao);
             Tensor zeros = Tensors.zeros(ScalarType.Long, m.m); Tensor sinceFired = zeros.to(device, ScalarType.Long)) {
            for (int step = 0; step < steps; step++) {
                try (PointerScope s = new PointerScope(); Tensor raw = stream.next(o.batchSize)) {
                    Tensor x = raw.mul(new Scalar(scale));
                    opt.zero_grad();
                    SaeModule.Out out = m.forward(x);
                    Tensor mse = x.sub(out.xHat()).pow(new Scalar(2)).sum(new long[] {-1}, false, new ScalarTypeOptional()).mean();
                    Tensor objective = switch (o.architecture) {
                        case JUMPRELU -> mse.add(out.l0().mean().mul(new Scalar(o.l0Coefficient)));
                        case RELU -> mse.add(out.f().sum(new long[] {-1}, false, new ScalarTypeOptional()).mean().mul(new Scalar(o.l1Coefficient)));
                        case TOPK -> mse;
                    };
                    Tensor loss = objective;
                    if (o.architecture == Architecture.TOPK && o.auxKCoefficient > 0) {
                        Tensor dead = sinceFired.ge(new Scalar(o.deadAfterRows));
                        long nDead = dead.sum().item_long();
                        if (nDead > 0) {
                            int kAux = (int) Math.min(nDead, Math.max(1, m.d / 2));
                            loss = loss.add(m.auxK(x, out, dead, kAux).mul(new Scalar(o.auxKCoefficient)));
                        }
                    }
                    loss.backward();
                    m.projectDecoderGradient();
                    opt.step();
                    m.normalizeDecoder();
                    try (NoGradGuard ng = new NoGradGuard()) {
                        sinceFired.add_(new Scalar(o.batchSize));
                        sinceFired.masked_fill_(out.active().any(0), new Scalar(0));
                    }
                    losses[step] = objective.item_float();
                    l0s[step] = out.l0().mean().item_float();
                    if (!Float.isFinite(losses[step])) {
                        throw new IllegalStateException("training diverged at step " + (step + 1) + " (loss " + losses[step] + "): lower --lr");
                    }
                    progress.step(step + 1, steps, losses[step], l0s[step]);
                }
            }
        }
        return new float[][] {losses, l0s};
    }
}
