package org.sparsesteer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsesteer.Fixtures;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.tensor.Tensors;

/**
 * A model no fixture describes: heads x head_dim != hidden, an untied head, 3 layers (odd), a
 * window of 3, 6 query heads on 2 KV heads. Saved, reloaded, and checked for self-consistency.
 */
class UnseenShapesTest {
    @TempDir
    Path dir;

    static Gemma2Config config() {
        boolean[] sliding = {true, false, true};
        return new Gemma2Config(97, 48, 80, 3, 6, 2, 12, 1e-6, 10000.0, 12, 3, 50.0, 30.0, false, 2, 1, 0, sliding);
    }

    @Test
    void saveLoadKvCacheAndPaddingAgree() throws Exception {
        Gemma2Config c = config();
        Gemma2Weights w = Gemma2Checkpoint.random(c, 7, 0.3);
        int[] a = {2, 5, 9, 14, 20, 33, 41, 50, 61, 70}, b = {2, 90, 3, 4};
        try (Gemma2 inMemory = new Gemma2(c, w, ScalarType.Float, new org.bytedeco.pytorch.Device("cpu"))) {
            Gemma2Checkpoint.save(dir, c, inMemory.weights(), ScalarType.Float);
            try (Gemma2 loaded = Gemma2.load(dir); PointerScope s = new PointerScope()) {
                assertEquals(c.parameterCount(), loaded.weights().named().values().stream().mapToLong(Tensor::numel).sum());
                Tensor x = inMemory.forward(a, Hooks.NONE), y = loaded.forward(a, Hooks.NONE);
                assertTrue(x.equal(y), "save/load changed the logits");
                // Batched greedy (padding + KV cache) equals each row's full recompute.
                List<int[]> gen = Generator.generate(loaded, List.of(a, b), GenerationConfig.greedy(6), Hooks.NONE);
                for (int r = 0; r < 2; r++) {
                    int[] seq = r == 0 ? a : b;
                    for (int t = 0; t < 6; t++) {
                        float[] logits = Tensors.toFloats(loaded.forward(seq, Hooks.NONE));
                        float[] last = java.util.Arrays.copyOfRange(logits, (seq.length - 1) * c.vocabSize(), seq.length * c.vocabSize());
                        assertEquals(Sampler.argmax(last), gen.get(r)[t], "row " + r + " token " + t);
                        seq = java.util.Arrays.copyOf(seq, seq.length + 1);
                        seq[seq.length - 1] = gen.get(r)[t];
                    }
                }
            }
        }
    }

    private static long liveNativeObjects() {
        System.gc();
        try {
            Thread.sleep(100); // JavaCPP's deallocator thread releases what the collector found
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return Pointer.totalCount();
    }

    @Test
    void aLongGenerationLoopHoldsNoNativeObjects() {
        try (Gemma2 model = Gemma2.load(Fixtures.tinyA())) {
            int[] prompt = {2, 17, 301};
            Generator.generate(model, prompt, GenerationConfig.greedy(10), Hooks.NONE); // warm up
            long before = liveNativeObjects();
            Generator.generate(model, prompt, new GenerationConfig(200, 1.0, 0, 1, 3, java.util.Set.of()), Hooks.NONE);
            long after = liveNativeObjects();
            // Objects not owned by a scope may be collected meanwhile, so the count may fall; it must not grow.
            assertTrue(after <= before, "native objects alive: " + before + " before, " + after + " after a 200-token generation");
        }
    }
}
