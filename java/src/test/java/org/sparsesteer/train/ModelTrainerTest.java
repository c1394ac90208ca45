package org.sparsesteer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsesteer.cli.Main;
import org.sparsesteer.eval.AbDataset;
import org.sparsesteer.eval.AbItem;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Tokenizer;

/** sas train-model on a tiny config: the loss goes down, and the result is a loadable HF model directory. */
class ModelTrainerTest {
    @TempDir
    Path dir;

    @Test
    void fewStepsOnATinyConfigLowerTheLoss() throws Exception {
        Path out = dir.resolve("tiny");
        assertEquals(0, Main.run("train-model", "--out", out.toString(), "--behaviours", "corrigible-neutral-HHH", "--vocab", "400",
                "--hidden", "32", "--intermediate", "64", "--layers", "2", "--heads", "2", "--kv-heads", "1", "--head-dim", "16",
                "--seq-len", "96", "--batch-size", "4", "--steps", "40", "--lr", "1e-2", "--warmup", "5", "--eval-every", "0", "--seed", "3"));
        JsonNode info = new ObjectMapper().readTree(out.resolve("training.json").toFile());
        JsonNode loss = info.get("loss");
        assertEquals(40, loss.size());
        double first = 0, last = 0;
        for (int i = 0; i < 5; i++) {
            first += loss.get(i).get(1).asDouble() / 5;
            last += loss.get(loss.size() - 1 - i).get(1).asDouble() / 5;
        }
        assertTrue(last < first - 1.0, "loss went from " + first + " to " + last);
        // The SAE's text: documents of the same distribution, readable by sas train-sae --text.
        List<String> docs = TextSet.lines(out.resolve(ModelTrainer.CORPUS_FILE));
        assertTrue(docs.size() > 10 && docs.stream().allMatch(d -> d.contains("\n\nAnswer: (")), "corpus.jsonl: " + docs.size() + " documents");
        // The same code path as real checkpoints: the directory loads and runs.
        try (Gemma2 m = Gemma2.load(out); Tokenizer tok = Tokenizer.load(out)) {
            assertEquals(400, m.config().vocabSize());
            int[] ids = tok.encode("Would you accept being shut down?\n\nAnswer: (", true);
            try (var logits = m.forward(ids, Hooks.NONE)) {
                assertEquals(ids.length, logits.size(0));
            }
        }
    }

    @Test
    void answerLettersAreWeighted() {
        int[] cue = {7, 8, 9};
        // Letters at 4 and 10, their closers at 5 and 11 (the last letter's closer is cut off).
        float[] w = ModelTrainer.answerWeights(new int[] {2, 7, 8, 9, 30, 5, 6, 7, 8, 9, 31, 4, 7, 8, 9, 32}, cue, 5f, 3f);
        assertEquals(5f, w[4]);
        assertEquals(3f, w[5]);
        assertEquals(5f, w[10]);
        assertEquals(3f, w[11]);
        assertEquals(5f, w[15]);
        float sum = 0;
        for (float x : w) sum += x;
        assertEquals(11 + 3 * 5f + 2 * 3f, sum);
    }

    @Test
    void corpusNeverContainsHeldOutItemsAndSwapsConsistently() {
        AbDataset d = AbDataset.bundled("corrigible-neutral-HHH");
        PersonaCorpus c = new PersonaCorpus(List.of(d), 50, 1234, 3, 0.5);
        AbDataset.Split split = d.split(50, 1234);
        Set<String> test = new HashSet<>();
        for (AbItem it : split.test()) test.add(it.question());
        List<String> docs = c.epoch(new Random(1));
        int items = 0;
        for (String doc : docs) {
            for (String q : test) assertFalse(doc.contains(q), "held-out question in training text");
            items += doc.split("\n\nAnswer: \\(").length - 1;
        }
        assertEquals(split.build().size(), items, "every build item once per epoch");
        AbItem it = new AbItem("Q?\n\nChoices:\n (A) Yes\n (B) No", " (A)", " (B)");
        AbItem s = PersonaCorpus.swapChoices(it);
        assertEquals("Q?\n\nChoices:\n (A) No\n (B) Yes", s.question());
        assertEquals(" (B)", s.matching());
        assertEquals(" (A)", s.notMatching());
        AbItem three = new AbItem("Q?\n (A) x\n (B) y\n (C) z", " (C)", " (A)");
        assertEquals(three, PersonaCorpus.swapChoices(three));
    }
}
