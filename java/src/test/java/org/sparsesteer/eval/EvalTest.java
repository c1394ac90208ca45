package org.sparsesteer.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsesteer.Fixtures;
import org.sparsesteer.cli.Main;
import org.sparsesteer.io.SafetensorsWriter;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Gemma2Checkpoint;
import org.sparsesteer.model.Gemma2Config;
import org.sparsesteer.model.Gemma2Weights;
import org.sparsesteer.tensor.Tensors;

/**
 * The evaluation pipeline end to end on a small random Gemma 2 with the real Gemma tokenizer (so
 * the real A/B datasets tokenise) and a random SAELens SAE. Random weights have no behaviour to
 * steer; this checks the plumbing and the invariants, not the effect (the demo shows the effect).
 */
class EvalTest {
    @TempDir
    static Path dir;
    static Path model, sae, dataset;

    @BeforeAll
    static void setUp() throws Exception {
        model = dir.resolve("model");
        Gemma2Config c = Gemma2Checkpoint.config(256000, 32, 64, 2, 2, 1, 16, 16);
        try (Gemma2Weights w = Gemma2Checkpoint.random(c, 11, 0.5)) {
            Gemma2Checkpoint.save(model, c, w, ScalarType.BFloat16);
        }
        try (InputStream in = new GZIPInputStream(Files.newInputStream(Fixtures.resource("tokenizers/gemma/tokenizer.json.gz")))) {
            Files.copy(in, model.resolve("tokenizer.json"));
        }
        sae = dir.resolve("sae");
        Files.createDirectories(sae);
        org.bytedeco.pytorch.global.torch.manual_seed(5);
        try (Tensor we = org.bytedeco.pytorch.global.torch.randn(32, 96); Tensor wd = we.t().contiguous();
             Tensor be = Tensors.zeros(ScalarType.Float, 96); Tensor bd = Tensors.zeros(ScalarType.Float, 32)) {
            new SafetensorsWriter().add("W_enc", we).add("W_dec", wd).add("b_enc", be).add("b_dec", bd).write(sae.resolve("sae_weights.safetensors"));
        }
        Files.writeString(sae.resolve("cfg.json"), "{\"architecture\":\"standard\",\"d_in\":32,\"d_sae\":96,\"hook_name\":\"blocks.0.hook_resid_post\"}");
        List<String> lines = new String(EvalTest.class.getResourceAsStream("/org/sparsesteer/data/anthropic-evals/survival-instinct.jsonl").readAllBytes())
                .lines().limit(40).toList();
        dataset = Files.write(dir.resolve("survival-instinct.jsonl"), lines);
    }

    @Test
    void plotTicksAreRoundNumbers() {
        assertEquals(2.0, LinePlot.niceStep(16.0 / 8), 1e-12);   // λ from -8 to 8: ticks every 2
        assertEquals(0.5, LinePlot.niceStep(0.3), 1e-12);
        assertEquals(5.0, LinePlot.niceStep(2.6), 1e-12);
        assertEquals(0.01, LinePlot.niceStep(0.01), 1e-15);
        assertEquals(100.0, LinePlot.niceStep(51), 1e-9);
    }

    @Test
    void splitIsDeterministicAndDisjoint() {
        AbDataset d = AbDataset.read(dataset);
        AbDataset.Split a = d.split(10, 7), b = d.split(10, 7), c = d.split(10, 8);
        assertEquals(a.test(), b.test());
        assertNotEquals(a.test(), c.test());
        assertEquals(30, a.build().size());
        assertTrue(a.build().stream().noneMatch(a.test()::contains));
        assertThrows(IllegalArgumentException.class, () -> d.split(40, 1));
    }

    @Test
    void sweepWritesResultsWithTheInvariants() throws Exception {
        Path out = dir.resolve("eval");
        assertEquals(0, Main.run("eval", "--model", model.toString(), "--sae", sae.toString(), "--dataset", dataset.toString(),
                "--scales", "-4,0,4", "--test-size", "10", "--seed", "3", "--out", out.toString()));
        JsonNode r = new ObjectMapper().readTree(out.resolve("results.json").toFile());
        assertEquals(3, r.get("seed").asInt());
        JsonNode rows = r.get("rows");
        assertEquals(6, rows.size());
        double sas0 = Double.NaN, caa0 = Double.NaN;
        boolean moved = false;
        for (JsonNode row : rows) {
            double score = row.get("score").asDouble(), kl = row.get("kl").asDouble(), scale = row.get("scale").asDouble();
            assertTrue(score > 0 && score < 1, "score " + score);
            if (scale == 0) {
                assertEquals(0.0, kl);
                if (row.get("method").asText().equals("sas")) sas0 = score; else caa0 = score;
            } else {
                assertTrue(kl >= 0);
                moved |= kl > 0;
            }
        }
        assertEquals(sas0, caa0, 1e-9, "lambda 0 is the unsteered model for both methods");
        assertTrue(moved, "no steering changed any distribution");
        assertTrue(Files.size(out.resolve("plot.png")) > 1000);
        assertEquals(7, Files.readAllLines(out.resolve("results.csv")).size());
        assertTrue(Files.exists(out.resolve("survival-instinct.sas.safetensors")));
        assertTrue(Files.exists(out.resolve("survival-instinct.caa.safetensors")));
    }

    @Test
    void scoreOfTheUnsteeredModelMatchesADirectComputation() throws Exception {
        try (Gemma2 m = Gemma2.load(model); org.sparsesteer.model.Tokenizer tok = org.sparsesteer.model.Tokenizer.load(model)) {
            AbDataset d = AbDataset.read(dataset);
            List<AbItem> items = d.items().subList(0, 5);
            BehaviourScore bs = new BehaviourScore(m, tok, org.sparsesteer.steer.PromptFormat.BASE, 3);
            double[] batched = bs.itemScores(items, org.sparsesteer.hooks.Hooks.NONE, () -> {});
            for (int i = 0; i < items.size(); i++) {
                AbItem it = items.get(i);
                float[] lp = org.sparsesteer.model.Scorer.nextTokenLogProbs(m, tok.encode(it.question() + "\n\nAnswer: (", true), org.sparsesteer.hooks.Hooks.NONE);
                double pm = Math.exp(lp[tok.tokenId(AbItem.letter(it.matching()))]), pn = Math.exp(lp[tok.tokenId(AbItem.letter(it.notMatching()))]);
                assertEquals(pm / (pm + pn), batched[i], 1e-5);
            }
        }
    }
}
