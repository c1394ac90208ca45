package org.sparsesteer.bench;

import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
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
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Gemma2Checkpoint;
import org.sparsesteer.model.Gemma2Config;
import org.sparsesteer.model.KvCache;
import org.sparsesteer.model.TokenBatch;

/**
 * The Gemma 2 engine on CPU with Gemma-2-2B's shapes (2304 hidden, 26 layers, 256000 vocabulary,
 * random float32 weights built in memory, ~10.5 GB): a prefill of {@code prompt} tokens and one decode
 * step after it (KV cache), each without hooks and with a no-op hook on every layer's resid_post.
 * Tokens/s = prompt / prefill time, 1 / decode time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 10)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"})
public class EngineBench {
    @Param({"64"})
    public int prompt;

    /** Config name: "2b" (Gemma-2-2B shapes) or "small" (a quick smoke run). */
    @Param({"2b"})
    public String shapes;

    Gemma2 model;
    KvCache cache;
    TokenBatch prefill, step;
    Hooks noOp;

    @Setup(Level.Trial)
    public void setUp() {
        Gemma2Config c = shapes.equals("2b") ? Gemma2Checkpoint.gemma2_2b() : Gemma2Checkpoint.config(32000, 512, 2048, 4, 8, 4, 64, 128);
        model = new Gemma2(c, Gemma2Checkpoint.random(c, 1, 0.02), ScalarType.Float, new Device("cpu"));
        Random r = new Random(3);
        int[] ids = new int[prompt];
        ids[0] = 2;
        for (int i = 1; i < prompt; i++) ids[i] = 3 + r.nextInt(c.vocabSize() - 3);
        prefill = TokenBatch.single(ids);
        step = new TokenBatch(new long[][] {{17}}, new int[] {0}, 1);
        cache = model.newCache(1, prompt + 1);
        try (Tensor t = model.forward(prefill, prompt, cache, Hooks.NONE, true)) {
            // the decode benchmarks start from a filled cache
        }
        Hooks.Builder b = Hooks.builder();
        for (int l = 0; l < c.numLayers(); l++) b.add("blocks." + l + ".hook_resid_post", (p, a, ctx) -> null);
        noOp = b.build();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        cache.close();
        model.close();
    }

    private Tensor decode(Hooks hooks) {
        cache.rewind(prompt);
        return model.forward(step, prompt, cache, hooks, true);
    }

    @Benchmark
    public float prefill() {
        try (Tensor t = model.forward(prefill, prompt, null, Hooks.NONE, true)) {
            return t.get(0).get(0).get(0).item_float();
        }
    }

    @Benchmark
    public float prefillNoOpHooks() {
        try (Tensor t = model.forward(prefill, prompt, null, noOp, true)) {
            return t.get(0).get(0).get(0).item_float();
        }
    }

    @Benchmark
    public float decode() {
        try (Tensor t = decode(Hooks.NONE)) {
            return t.get(0).get(0).get(0).item_float();
        }
    }

    @Benchmark
    public float decodeNoOpHooks() {
        try (Tensor t = decode(noOp)) {
            return t.get(0).get(0).get(0).item_float();
        }
    }
}
