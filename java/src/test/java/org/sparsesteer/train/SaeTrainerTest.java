package org.sparsesteer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsesteer.Fixtures;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.TokenBatch;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeConfig;
import org.sparsesteer.sae.SaeLoader;
import org.sparsesteer.tensor.Tensors;

/** Training on the tiny fixture model (d = 64, 4 layers) over random token sequences. */
class SaeTrainerTest {
    static final String HOOK = "blocks.1.hook_resid_post";
    static Gemma2 model;

    @TempDir
    Path dir;

    @BeforeAll
    static void load() {
        model = Gemma2.load(Fixtures.tinyA());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** {@code n} seeded random sequences of 12 to 32 tokens, <bos> first. */
    static List<int[]> texts(int n, long seed) {
        Random r = new Random(seed);
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] t = new int[12 + r.nextInt(21)];
            t[0] = 2;
            for (int j = 1; j < t.length; j++) t[j] = 3 + r.nextInt(509);
            out.add(t);
        }
        return out;
    }

    static SaeTrainingOptions small(String arch) {
        return new SaeTrainingOptions().hook(HOOK).architecture(arch).width(128).batchSize(64).steps(40).lr(3e-3).seed(7).evalFraction(0.25);
    }

    /** Rows to check a loaded SAE on: one fresh sequence's activations [T, 64]. */
    static Tensor probeRows() {
        try (PointerScope s = new PointerScope()) {
            Tensor a = model.activations(TokenBatch.single(texts(1, 99).get(0)), HookPoint.parse(HOOK), Hooks.NONE);
            Tensor rows = Tensors.keep(a.select(0, 0).narrow(0, 1, a.size(1) - 1).clone());
            a.close();
            return rows;
        }
    }

    static void assertLearns(SaeTrainingReport r) {
        double first = r.meanLoss(0, 5), last = r.meanLoss(r.losses().length - 5, r.losses().length);
        assertTrue(last < 0.8 * first, "loss did not go down: first steps " + first + ", last steps " + last);
        assertTrue(r.eval().explainedVariance() > 0, "explained variance " + r.eval().explainedVariance());
        assertTrue(r.eval().rows() > 0 && r.eval().meanL0() > 0);
        assertTrue(r.eval().deadFeatures() >= 0 && r.eval().deadFeatures() < r.width());
    }

    @Test
    void topKLearnsAndLoadsBackRespectingK() throws Exception {
        Path out = dir.resolve("topk");
        List<long[]> progress = new ArrayList<>();
        try (TrainedSae t = new SaeTrainer(model, small("topk").k(8)).onProgress((s, n, loss, l0) -> progress.add(new long[] {s, n}))
                .train(texts(24, 1))) {
            SaeTrainingReport r = t.report();
            System.out.println(r.summary());
            assertLearns(r);
            assertEquals(40, progress.size());
            assertEquals(40, progress.get(39)[0]);
            assertTrue(r.eval().meanL0() <= 8);
            t.save(out);
            try (Sae loaded = SaeLoader.load(out, null); PointerScope s = new PointerScope(); Tensor x = probeRows()) {
                assertEquals(SaeConfig.Architecture.TOPK, loaded.config().architecture());
                assertEquals(8, loaded.config().k());
                assertEquals(HOOK, loaded.config().hookName());
                assertFalse(loaded.config().applyBDecToInput());
                float[] f = Tensors.toFloats(loaded.encode(x));
                for (int row = 0; row < x.size(0); row++) {
                    int nz = 0;
                    for (int j = 0; j < 128; j++) if (f[row * 128 + j] != 0) nz++;
                    assertTrue(nz >= 1 && nz <= 8, "row " + row + " has " + nz + " active features");
                }
                assertTrue(loaded.encode(x).equal(t.sae().encode(x)), "the loaded SAE encodes differently");
            }
            JsonNode cfg = new ObjectMapper().readTree(out.resolve("cfg.json").toFile());
            assertEquals("none", cfg.get("normalize_activations").asText());
            assertEquals("float32", cfg.get("dtype").asText());
            assertEquals(r.eval().explainedVariance(), cfg.get("training").get("explained_variance").asDouble(), 1e-12);
            assertEquals(8, cfg.get("training").get("k").asInt());
        }
    }

    @Test
    void jumpReluLearnsAndLoadsBackRespectingThresholds() throws Exception {
        Path out = dir.resolve("jumprelu");
        try (TrainedSae t = new SaeTrainer(model, small("jumprelu").l0Coefficient(1e-3)).train(texts(24, 1))) {
            SaeTrainingReport r = t.report();
            System.out.println(r.summary());
            assertLearns(r);
            t.save(out);
        }
        try (Sae sae = SaeLoader.load(out, null); PointerScope s = new PointerScope(); Tensor x = probeRows()) {
            assertEquals(SaeConfig.Architecture.JUMPRELU, sae.config().architecture());
            assertNotNull(sae.threshold());
            float[] thr = Tensors.toFloats(sae.threshold()), pre = Tensors.toFloats(sae.preActivations(x)), f = Tensors.toFloats(sae.encode(x));
            int active = 0;
            for (int i = 0; i < f.length; i++) {
                float th = thr[i % 128];
                assertTrue(th > 0);
                if (f[i] != 0) {
                    active++;
                    assertEquals(pre[i], f[i], 0f);
                    assertTrue(f[i] > th);
                } else {
                    assertTrue(pre[i] <= th);
                }
            }
            assertTrue(active > 0);
        }
    }

    /**
     * With a one-batch dead window most features count as dead, so every step takes the AuxK path;
     * the run must still learn, and differ from the run without AuxK (the curves exclude the AuxK
     * term, so they differ only through AuxK's updates).
     */
    @Test
    void auxKTakesPartInTraining() {
        float[][] losses = new float[2][];
        for (int i = 0; i < 2; i++) {
            SaeTrainingOptions o = small("topk").k(4).width(512).deadAfterRows(64).auxKCoefficient(i == 0 ? 0 : 1.0 / 32);
            try (TrainedSae t = new SaeTrainer(model, o).train(texts(24, 1))) {
                assertLearns(t.report());
                losses[i] = t.report().losses();
            }
        }
        assertEquals(losses[0][0], losses[1][0]);
        assertFalse(java.util.Arrays.equals(losses[0], losses[1]), "AuxK changed nothing");
    }

    @Test
    void theSameSeedGivesTheSameWeights() {
        List<int[]> texts = texts(12, 3);
        Consumer<SaeTrainingOptions> few = o -> o.steps(6);
        float[][] w = new float[3][];
        long[] seeds = {5, 5, 6};
        for (int i = 0; i < 3; i++) {
            SaeTrainingOptions o = small("jumprelu").seed(seeds[i]);
            few.accept(o);
            try (TrainedSae t = new SaeTrainer(model, o).train(texts)) {
                w[i] = Tensors.toFloats(t.sae().wDec());
            }
        }
        assertArrayEquals(w[0], w[1]);
        assertFalse(java.util.Arrays.equals(w[0], w[2]), "another seed gave the same weights");
    }

    @Test
    void badArgumentsNameTheOption() {
        List<int[]> texts = texts(4, 2);
        Object[][] cases = {
            {"--k", small("topk").k(200)},
            {"--k", small("topk")},
            {"--width", small("topk").k(4).width(0)},
            {"--hook", small("jumprelu").hook("blocks.9.hook_resid_post")},
            {"--hook", small("jumprelu").hook("blocks.1.resid")},
            {"--l0-coefficient", small("jumprelu").l0Coefficient(0)},
            {"--batch-size", small("jumprelu").batchSize(0)},
        };
        for (Object[] c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new SaeTrainer(model, (SaeTrainingOptions) c[1]).train(texts));
            assertTrue(e.getMessage().contains((String) c[0]), "'" + c[0] + "' not in: " + e.getMessage());
        }
        IllegalArgumentException arch = assertThrows(IllegalArgumentException.class, () -> small("gated"));
        assertTrue(arch.getMessage().contains("--architecture") && arch.getMessage().contains("gated"), arch.getMessage());
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> new SaeTrainer(model, small("topk").k(4)).train(List.of()));
        assertTrue(none.getMessage().contains("--text"), none.getMessage());
    }

    @Test
    void textFilesAreReadStrictly() throws Exception {
        Path empty = Files.writeString(dir.resolve("empty.txt"), "\n  \n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TextSet.lines(empty)).getMessage().contains("empty"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TextSet.readIds(empty, 512)).getMessage().contains("empty"));
        Path ids = Files.writeString(dir.resolve("ids.txt"), "2, 5,7\n\n2,9\n");
        List<int[]> read = TextSet.readIds(ids, 512);
        assertEquals(2, read.size());
        assertArrayEquals(new int[] {2, 5, 7}, read.get(0));
        Path bad = Files.writeString(dir.resolve("bad.txt"), "2,5\n2,x\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TextSet.readIds(bad, 512)).getMessage().contains("line 2"));
        Path big = Files.writeString(dir.resolve("big.txt"), "2,512\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TextSet.readIds(big, 512)).getMessage().contains("512"));
    }

    @Test
    void jsonLinesCarryTextsWithNewlines() throws Exception {
        Path f = dir.resolve("docs.jsonl");
        TextSet.writeJsonl(List.of("Question?\n\nAnswer: (A)", "two \"quoted\" words"), f);
        assertEquals(List.of("Question?\n\nAnswer: (A)", "two \"quoted\" words"), TextSet.lines(f));
        Path obj = Files.writeString(dir.resolve("obj.jsonl"), "{\"text\": \"a\\nb\", \"id\": 3}\n\n\"c\"\n");
        assertEquals(List.of("a\nb", "c"), TextSet.lines(obj));
        Path bad = Files.writeString(dir.resolve("bad.jsonl"), "\"ok\"\n{\"txt\": \"no\"}\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TextSet.lines(bad));
        assertTrue(e.getMessage().contains("bad.jsonl line 2") && e.getMessage().contains("\"text\""), e.getMessage());
        Path broken = Files.writeString(dir.resolve("broken.jsonl"), "{\"text\": \n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TextSet.lines(broken)).getMessage().contains("line 1"));
    }

    @Test
    void longTextsAreCutIntoWindowsThatStartWithBos() {
        List<int[]> w = ActivationStream.windows(List.of(new int[] {2, 10, 11, 12, 13, 14, 15}, new int[] {20, 21, 22}), 3, 2);
        assertEquals(List.of("[2, 10, 11]", "[2, 12, 13]", "[2, 14, 15]", "[20, 21, 22]"), w.stream().map(java.util.Arrays::toString).toList());
        assertEquals(9, ActivationStream.countRows(w, 2, true));
        assertEquals(12, ActivationStream.countRows(w, 2, false));
    }
}
