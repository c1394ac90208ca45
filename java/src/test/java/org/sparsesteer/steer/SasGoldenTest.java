package org.sparsesteer.steer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparsesteer.Fixtures;
import org.sparsesteer.hooks.HookContext.Positions;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.io.SafetensorsFile;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Scorer;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeLoader;
import org.sparsesteer.tensor.Tensors;

/** SAS vectors and steered logits against an independent implementation's (fixture sas/). */
class SasGoldenTest {
    static Gemma2 model;
    static Sae sae;
    static SafetensorsFile golden;
    static List<ContrastivePair> pairs;
    static final String HOOK = "blocks.2.hook_resid_post";

    @BeforeAll
    static void load() {
        model = Gemma2.load(Fixtures.tinyA());
        sae = SaeLoader.load(Fixtures.tinyA().resolve("sae/params.npz"), HOOK);
        golden = SafetensorsFile.open(Fixtures.tinyA().resolve("sas/sas_golden.safetensors"));
        pairs = PairFile.read(Fixtures.tinyA().resolve("sas/pairs.jsonl"), null, PromptFormat.BASE).pairs();
    }

    @AfterAll
    static void close() {
        model.close();
        sae.close();
        golden.close();
    }

    static void assertClose(float[] want, float[] got, double tol, String what) {
        double d = Fixtures.maxAbsDiff(want, got);
        assertTrue(d <= tol, what + " differs by " + d);
    }

    @Test
    void vectorsMatch() {
        assertEquals(32, pairs.size());
        SteeringVector v = new SasBuilder(model, sae).tau(0.5).build(pairs, "pairs.jsonl", null);
        assertClose(golden.readFloats("v"), v.dense(sae.width()), 1e-5, "v (tau 0.5)");
        assertEquals(76, v.size());
        assertEquals("52", v.metadata().get("s_pos"));
        assertEquals("54", v.metadata().get("s_neg"));
        float[] fp = new float[sae.width()];
        for (int i = 0; i < v.size(); i++) fp[(int) v.indices()[i]] = v.freqPos()[i];
        float[] gfp = golden.readFloats("freq_pos");
        for (int i = 0; i < v.size(); i++) assertEquals(gfp[(int) v.indices()[i]], v.freqPos()[i], 1e-6);
        SteeringVector v8 = new SasBuilder(model, sae).tau(0.8).build(pairs, null, null);
        assertClose(golden.readFloats("v_tau0.8"), v8.dense(sae.width()), 1e-5, "v (tau 0.8)");
        assertEquals(62, v8.size());
        SteeringVector top = new SasBuilder(model, sae).tau(0.5).topK(8).build(pairs, null, null);
        assertClose(golden.readFloats("v_top8"), top.dense(sae.width()), 1e-5, "v top-8");
        assertEquals(8, top.size());
    }

    @Test
    void vectorsFromPrecomputedActivationsMatch() {
        // What LambdaSweep does: one pass of last-token activations (length-sorted batches) for SAS and CAA.
        var hook = org.sparsesteer.hooks.HookPoint.parse(HOOK);
        try (var xp = SasBuilder.lastTokenActivations(model, hook, pairs.stream().map(ContrastivePair::positive).toList(), 5, n -> {});
             var xn = SasBuilder.lastTokenActivations(model, hook, pairs.stream().map(ContrastivePair::negative).toList(), 5, n -> {})) {
            SteeringVector v = new SasBuilder(model, sae).tau(0.5).build(xp, xn, "pairs.jsonl", null);
            assertClose(golden.readFloats("v"), v.dense(sae.width()), 1e-5, "v from activations");
            assertEquals("52", v.metadata().get("s_pos"));
            assertEquals("32", v.metadata().get("pairs"));
            CaaVector a = CaaVector.fromActivations(xp, xn, HOOK), b = CaaVector.build(model, HOOK, pairs, 7, n -> {});
            assertClose(b.vector(), a.vector(), 1e-5, "CAA from activations");
        }
    }

    @Test
    void steeredLogitsMatch() {
        SteeringVector v = SteeringVector.fromDense(golden.readFloats("v"), null, null, java.util.Map.of("hook", HOOK));
        SteeringVector v8 = SteeringVector.fromDense(golden.readFloats("v_top8"), null, null, java.util.Map.of("hook", HOOK));
        for (int t = 0; t < 3; t++) {
            int[] ids = Fixtures.toInts(golden.readLongs("test" + t + ".input_ids"));
            check(ids, null, 0, golden.readFloats("test" + t + ".logits.lam0"), "test" + t + " unsteered");
            for (SparseSteerHook.Mode mode : SparseSteerHook.Mode.values()) {
                check(ids, v, 4, golden.readFloats("test" + t + ".logits.v.lam4"), "test" + t + " v lam4 " + mode, mode);
                check(ids, v, -4, golden.readFloats("test" + t + ".logits.v.lam-4"), "test" + t + " v lam-4 " + mode, mode);
                check(ids, v8, 4, golden.readFloats("test" + t + ".logits.v_top8.lam4"), "test" + t + " v_top8 lam4 " + mode, mode);
            }
        }
    }

    private void check(int[] ids, SteeringVector v, double lambda, float[] want, String what) {
        check(ids, v, lambda, want, what, SparseSteerHook.Mode.FUSED);
    }

    private void check(int[] ids, SteeringVector v, double lambda, float[] want, String what, SparseSteerHook.Mode mode) {
        Hooks hooks = Hooks.NONE;
        SparseSteerHook h = null;
        if (v != null) {
            h = new SparseSteerHook(sae, v, lambda, Positions.ALL, mode);
            hooks = h.hooks();
        }
        try (Tensor logits = model.forward(ids, hooks)) {
            assertClose(want, Tensors.toFloats(logits), 1e-4, what);
        } finally {
            if (h != null) h.close();
        }
    }

    @Test
    void lambdaZeroIsUnsteeredAndCompositionAddsDeltasInSequence() {
        SteeringVector v = SteeringVector.fromDense(golden.readFloats("v"), null, null, java.util.Map.of("hook", HOOK));
        SteeringVector v8 = SteeringVector.fromDense(golden.readFloats("v_top8"), null, null, java.util.Map.of("hook", HOOK));
        int[] ids = Fixtures.toInts(golden.readLongs("test1.input_ids"));
        try (PointerScope s = new PointerScope();
             SparseSteerHook zero = new SparseSteerHook(sae, v, 0, Positions.ALL, SparseSteerHook.Mode.FUSED);
             SparseSteerHook a = new SparseSteerHook(sae, v, 3, Positions.ALL, SparseSteerHook.Mode.FUSED);
             SparseSteerHook b = new SparseSteerHook(sae, v8, -2, Positions.ALL, SparseSteerHook.Mode.FUSED);
             SparseSteerHook aDense = new SparseSteerHook(sae, v, 3, Positions.ALL, SparseSteerHook.Mode.DENSE);
             SparseSteerHook bDense = new SparseSteerHook(sae, v8, -2, Positions.ALL, SparseSteerHook.Mode.DENSE)) {
            assertTrue(model.forward(ids, zero.hooks()).equal(model.forward(ids, Hooks.NONE)), "lambda 0 changed the logits");
            // Composition: both hooks at the same point, applied in sequence, equal the dense reference
            // of applying the first delta, then the second on the result.
            float[] composed = Tensors.toFloats(model.forward(ids, a.hooks().and(b.hooks())));
            float[] reference = Tensors.toFloats(model.forward(ids, aDense.hooks().and(bDense.hooks())));
            assertClose(reference, composed, 1e-4, "composition");
            float[] onlyA = Tensors.toFloats(model.forward(ids, a.hooks()));
            assertTrue(Fixtures.maxAbsDiff(onlyA, composed) > 1e-3, "the second vector had no effect");
        }
    }

    @Test
    void steeredBatchScoresEqualRowsAlone() {
        SteeringVector v = SteeringVector.fromDense(golden.readFloats("v"), null, null, java.util.Map.of("hook", HOOK));
        int[] a = Fixtures.toInts(golden.readLongs("test0.input_ids")), b = Fixtures.toInts(golden.readLongs("test2.input_ids"));
        try (SparseSteerHook h = new SparseSteerHook(sae, v, 4, Positions.ALL, SparseSteerHook.Mode.FUSED)) {
            int[] tokens = {65, 66};
            float[][] both = Scorer.nextTokenLogProbs(model, List.of(a, b), tokens, h.hooks());
            float[][] ra = Scorer.nextTokenLogProbs(model, List.of(a), tokens, h.hooks());
            float[][] rb = Scorer.nextTokenLogProbs(model, List.of(b), tokens, h.hooks());
            for (int j = 0; j < 2; j++) {
                assertEquals(ra[0][j], both[0][j], 1e-4);
                assertEquals(rb[0][j], both[1][j], 1e-4);
            }
        }
    }

    @Test
    void fusedEqualsDenseAtGeneratedPositionsOnly() {
        // Steering only generated tokens: the prompt's logits are untouched, the rest match the dense path.
        SteeringVector v = SteeringVector.fromDense(golden.readFloats("v"), null, null, java.util.Map.of("hook", HOOK));
        int[] ids = Fixtures.toInts(golden.readLongs("test1.input_ids"));
        org.sparsesteer.model.GenerationConfig g = org.sparsesteer.model.GenerationConfig.greedy(6);
        try (SparseSteerHook f = new SparseSteerHook(sae, v, 6, Positions.GENERATED, SparseSteerHook.Mode.FUSED);
             SparseSteerHook d = new SparseSteerHook(sae, v, 6, Positions.GENERATED, SparseSteerHook.Mode.DENSE)) {
            assertTrue(java.util.Arrays.equals(org.sparsesteer.model.Generator.generate(model, ids, g, f.hooks()),
                    org.sparsesteer.model.Generator.generate(model, ids, g, d.hooks())));
            float[][] plain = Scorer.nextTokenLogProbs(model, List.of(ids), new int[] {5, 9}, Hooks.NONE);
            float[][] steered = Scorer.nextTokenLogProbs(model, List.of(ids), new int[] {5, 9}, f.hooks());
            assertEquals(plain[0][0], steered[0][0], 0f, "a scored prompt has no generated positions to steer");
        }
    }

    @Test
    void anEmptyVectorSteersNothing() {
        // A high tau can leave no feature on either side; saving, loading and steering with it must still work.
        SteeringVector empty = SteeringVector.fromDense(new float[256], null, null, java.util.Map.of("hook", HOOK));
        assertEquals(0, empty.size());
        int[] ids = Fixtures.toInts(golden.readLongs("test0.input_ids"));
        try (SparseSteerHook h = new SparseSteerHook(sae, empty, 8, Positions.ALL, SparseSteerHook.Mode.FUSED);
             PointerScope s = new PointerScope()) {
            assertTrue(model.forward(ids, h.hooks()).equal(model.forward(ids, Hooks.NONE)));
        }
    }

    @Test
    void vectorFileRoundTrips(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        SteeringVector v = new SasBuilder(model, sae).build(pairs, "pairs.jsonl", "abc");
        Path f = dir.resolve("v.safetensors");
        v.write(f);
        SteeringVector r = SteeringVector.read(f);
        assertEquals(java.util.Arrays.toString(v.indices()), java.util.Arrays.toString(r.indices()));
        assertEquals(java.util.Arrays.toString(v.values()), java.util.Arrays.toString(r.values()));
        assertEquals(v.metadata(), r.metadata());
        r.checkFor(sae, f.toString());
    }
}
