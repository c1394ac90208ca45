package org.sparsesteer.bench;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.sparsesteer.hooks.HookContext.Positions;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Gemma2Checkpoint;
import org.sparsesteer.model.Gemma2Config;
import org.sparsesteer.model.KvCache;
import org.sparsesteer.model.TokenBatch;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeConfig;
import org.sparsesteer.steer.SparseSteerHook;
import org.sparsesteer.steer.SteeringVector;

/**
 * What steering costs per decode step (batch 1, Gemma-2-2B shapes with random weights, a JumpReLU SAE
 * of width 16384 at the middle layer's hook_resid_post, blocks.13 of 26, |supp v| = 64): unsteered,
 * the fused sparse-support kernel, and a dense SAE hook (full encode + decode over all features), side
 * by side in one run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 10)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class SteeringOverheadBench {
    @Param({"2b"})
    public String shapes;

    @Param({"16384"})
    public int width;

    @Param({"64"})
    public int support;

    static final int PROMPT = 32;

    Gemma2 model;
    Sae sae;
    KvCache cache;
    TokenBatch step;
    SparseSteerHook fused, dense;

    @Setup(Level.Trial)
    public void setUp() {
        Gemma2Config c = shapes.equals("2b") ? Gemma2Checkpoint.gemma2_2b() : Gemma2Checkpoint.config(32000, 512, 2048, 4, 8, 4, 64, 128);
        model = new Gemma2(c, Gemma2Checkpoint.random(c, 1, 0.02), ScalarType.Float, new Device("cpu"));
        int d = c.hiddenSize();
        String hook = "blocks." + (c.numLayers() / 2) + ".hook_resid_post";
        torch.manual_seed(9);
        Tensor wEnc = torch.randn(d, width), wDec = torch.randn(width, d); // in-place ops below return non-owning wrappers
        wEnc.mul_(new Scalar(0.02));
        wDec.mul_(new Scalar(0.02));
        sae = new Sae(new SaeConfig(SaeConfig.Architecture.JUMPRELU, d, width, 0, hook, false, "random", "random"),
                wEnc, torch.zeros(width), torch.full(new long[] {width}, new Scalar(0.01)), wDec, torch.zeros(d));
        Random r = new Random(5);
        float[] dense = new float[width];
        for (int i = 0; i < support; i++) {
            int j;
            do {
                j = r.nextInt(width);
            } while (dense[j] != 0);
            dense[j] = (float) r.nextGaussian();
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("hook", hook);
        SteeringVector v = SteeringVector.fromDense(dense, null, null, meta);
        fused = new SparseSteerHook(sae, v, 4, Positions.ALL, SparseSteerHook.Mode.FUSED);
        this.dense = new SparseSteerHook(sae, v, 4, Positions.ALL, SparseSteerHook.Mode.DENSE);
        int[] ids = new int[PROMPT];
        ids[0] = 2;
        for (int i = 1; i < PROMPT; i++) ids[i] = 3 + r.nextInt(c.vocabSize() - 3);
        cache = model.newCache(1, PROMPT + 1);
        try (Tensor t = model.forward(TokenBatch.single(ids), PROMPT, cache, Hooks.NONE, true)) {
            // filled cache for the decode steps
        }
        step = new TokenBatch(new long[][] {{17}}, new int[] {0}, 1);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        fused.close();
        dense.close();
        sae.close();
        cache.close();
        model.close();
    }

    /** One decode step after the prompt with the given hooks (also used by HookShare). */
    float decodeWith(Hooks hooks) {
        return decode(hooks);
    }

    private float decode(Hooks hooks) {
        cache.rewind(PROMPT);
        try (Tensor t = model.forward(step, PROMPT, cache, hooks, true)) {
            return t.get(0).get(0).get(0).item_float();
        }
    }

    @Benchmark
    public float unsteered() {
        return decode(Hooks.NONE);
    }

    @Benchmark
    public float fusedSteering() {
        return decode(fused.hooks());
    }

    @Benchmark
    public float denseSaeHook() {
        return decode(dense.hooks());
    }
}
