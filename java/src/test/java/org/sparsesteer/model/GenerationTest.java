package org.sparsesteer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparsesteer.Fixtures;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.io.SafetensorsFile;
import org.sparsesteer.tensor.Tensors;

class GenerationTest {
    static Gemma2 model;
    static SafetensorsFile golden;

    @BeforeAll
    static void load() {
        model = Gemma2.load(Fixtures.tinyA());
        golden = SafetensorsFile.open(Fixtures.tinyA().resolve("golden.safetensors"));
    }

    @AfterAll
    static void close() {
        model.close();
        golden.close();
    }

    static int[] seq(int s) {
        return Fixtures.toInts(golden.readLongs("seq" + s + ".input_ids"));
    }

    @Test
    void greedyContinuationsMatchTheReference() {
        for (int s = 0; s < 2; s++) {
            int[] want = Fixtures.toInts(golden.readLongs("seq" + s + ".greedy"));
            int[] got = Generator.generate(model, seq(s), GenerationConfig.greedy(want.length), Hooks.NONE);
            assertArrayEquals(want, got, "greedy tokens of seq" + s);
        }
    }

    @Test
    void batchedGreedyEqualsEachRowAlone() {
        List<int[]> rows = Generator.generate(model, List.of(seq(0), seq(1)), GenerationConfig.greedy(8), Hooks.NONE);
        assertArrayEquals(Fixtures.toInts(golden.readLongs("seq0.greedy")), rows.get(0));
        assertArrayEquals(Fixtures.toInts(golden.readLongs("seq1.greedy")), rows.get(1));
    }

    @Test
    void kvCacheDecodingGivesTheLogitsOfTheFullSequence() {
        int[] ids = seq(0);
        int prefix = 10;
        try (PointerScope scope = new PointerScope(); KvCache cache = model.newCache(1, ids.length)) {
            float[] full = Tensors.toFloats(model.forward(ids, Hooks.NONE)); // [T, V]
            int V = model.config().vocabSize();
            int[] head = java.util.Arrays.copyOf(ids, prefix);
            Tensor first = model.forward(TokenBatch.single(head), ids.length, cache, Hooks.NONE, false);
            float[] f = Tensors.toFloats(first);
            double worst = Fixtures.maxAbsDiff(java.util.Arrays.copyOf(full, prefix * V), f);
            for (int t = prefix; t < ids.length; t++) {
                Tensor step = model.forward(new TokenBatch(new long[][] {{ids[t]}}, new int[] {0}, 1), ids.length, cache, Hooks.NONE, false);
                float[] got = Tensors.toFloats(step);
                float[] want = java.util.Arrays.copyOfRange(full, t * V, (t + 1) * V);
                worst = Math.max(worst, Fixtures.maxAbsDiff(want, got));
            }
            assertEquals(ids.length, cache.length());
            assertTrue(worst < 1e-4, "cached decode differs from full recompute by " + worst);
        }
    }

    @Test
    void paddedBatchGivesEachRowsLogits() {
        TokenBatch batch = TokenBatch.leftPadded(List.of(seq(0), seq(1)), 0);
        assertEquals(24 - 17, batch.padLeft()[1]);
        try (PointerScope scope = new PointerScope()) {
            Tensor both = model.forward(batch, Hooks.NONE).cpu(); // [2, 24, V]
            for (int s = 0; s < 2; s++) {
                float[] alone = Tensors.toFloats(model.forward(seq(s), Hooks.NONE));
                int pad = batch.padLeft()[s];
                float[] row = Tensors.toFloats(both.get(s).narrow(0, pad, 24 - pad));
                double d = Fixtures.maxAbsDiff(alone, row);
                assertTrue(d < 1e-4, "row " + s + " differs from its unpadded run by " + d);
            }
        }
    }

    @Test
    void samplingIsReproducibleForASeedAndVariesAcrossSeeds() {
        // The random-weight model is very peaked (logits span +-30): a high temperature makes samples vary.
        GenerationConfig a = new GenerationConfig(12, 20.0, 50, 0.95, 42, Set.of());
        int[] x = Generator.generate(model, seq(1), a, Hooks.NONE);
        int[] y = Generator.generate(model, seq(1), a, Hooks.NONE);
        assertArrayEquals(x, y);
        boolean differs = false;
        for (long seed = 1; seed <= 5 && !differs; seed++) {
            int[] z = Generator.generate(model, seq(1), new GenerationConfig(12, 20.0, 50, 0.95, seed, Set.of()), Hooks.NONE);
            differs = !java.util.Arrays.equals(x, z);
        }
        assertTrue(differs, "five other seeds all gave the same sample");
    }

    @Test
    void stopTokensEndARow() {
        int[] greedy = Fixtures.toInts(golden.readLongs("seq0.greedy"));
        int stop = greedy[3];
        int firstStop = 0;
        while (greedy[firstStop] != stop) firstStop++;
        int[] got = Generator.generate(model, seq(0), GenerationConfig.greedy(8).withStopTokens(Set.of(stop)), Hooks.NONE);
        assertArrayEquals(java.util.Arrays.copyOf(greedy, firstStop), got);
    }

    @Test
    void scoringAgreesWithTheForwardPassAndBatchesRowsIndependently() {
        int[] p0 = seq(0), p1 = seq(1);
        int[] tokens = {65, 66, 7};
        float[][] lp = Scorer.nextTokenLogProbs(model, List.of(p0, p1), tokens, Hooks.NONE);
        for (int s = 0; s < 2; s++) {
            float[] alone = Scorer.nextTokenLogProbs(model, s == 0 ? p0 : p1, Hooks.NONE);
            for (int j = 0; j < tokens.length; j++) assertEquals(alone[tokens[j]], lp[s][j], 1e-4);
        }
        // Continuation scoring: log p of the greedy continuation equals the next-token log prob chain.
        int[] cont = java.util.Arrays.copyOf(Fixtures.toInts(golden.readLongs("seq1.greedy")), 3);
        float[][] c = Scorer.continuationLogProbs(model, List.of(p1), List.of(cont), Hooks.NONE);
        int[] prefix = p1;
        for (int j = 0; j < cont.length; j++) {
            float[] all = Scorer.nextTokenLogProbs(model, prefix, Hooks.NONE);
            assertEquals(all[cont[j]], c[0][j], 1e-4);
            prefix = java.util.Arrays.copyOf(prefix, prefix.length + 1);
            prefix[prefix.length - 1] = cont[j];
        }
        assertNotEquals(0f, c[0][0]);
    }
}
