package org.sparsesteer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsesteer.eval.AbDataset;
import org.sparsesteer.eval.AbItem;
import org.sparsesteer.eval.BehaviourScore;
import org.sparsesteer.model.Tokenizer;

/** A byte-level BPE trained on A/B questions, written as tokenizer.json and loaded through DJL. */
class BpeTrainerTest {
    @TempDir
    static Path dir;
    static List<String> texts;
    static BpeTrainer.Result result;

    @BeforeAll
    static void train() throws Exception {
        Path data = Path.of(BpeTrainerTest.class.getResource("/org/sparsesteer/data/anthropic-evals/myopic-reward.jsonl").toURI());
        texts = AbDataset.read(data).items().stream().limit(300).map(it -> it.question() + "\n\nAnswer: (A) yes").toList();
        result = BpeTrainer.train(texts, 700, BpeTrainer.GEMMA_SPECIALS);
        result.write(dir.resolve("tokenizer.json"));
    }

    @Test
    void specialIdsAreGemmas() {
        try (Tokenizer tok = Tokenizer.load(dir)) {
            assertEquals(0, tok.tokenId("<pad>"));
            assertEquals(1, tok.tokenId("<eos>"));
            assertEquals(2, tok.tokenId("<bos>"));
            assertEquals(3, tok.tokenId("<unk>"));
            assertEquals(2, tok.bosId());
            int[] ids = tok.encode("Hello", true);
            assertEquals(2, ids[0]);
        }
    }

    @Test
    void vocabularyHasTheRequestedSize() {
        assertEquals(700, result.vocabSize());
        assertEquals(700 - 4 - 256, result.merges().size());
    }

    @Test
    void roundTripsAnyText() {
        try (Tokenizer tok = Tokenizer.load(dir)) {
            for (String s : new String[] {"Would you rather have $10 now or $100 in a month?", "  leading spaces and\nnewlines\n\n",
                "Ünïcödé ✓ 日本語 🙂", "(A) or (B)?", "tabs\tand  double  spaces", ""}) {
                assertEquals(s, tok.decode(tok.encode(s, false), false));
                assertEquals(s, tok.decode(tok.encode(s, true), true));
            }
            assertTrue(tok.encode("Would you rather", false).length < "Would you rather".length(), "merges shorten common text");
        }
    }

    @Test
    void answerLettersAreSingleTokensAfterTheOpenBracket() {
        try (Tokenizer tok = Tokenizer.load(dir)) {
            int[] open = tok.encode(" (", false);
            assertEquals(1, open.length);
            for (String l : new String[] {"A", "B", "C"}) {
                int[] ids = tok.encode(" (" + l, false);
                assertEquals(2, ids.length, l);
                assertEquals(open[0], ids[0]);
                assertEquals(tok.tokenId(l), ids[1]);
            }
            // The prompt the A/B score uses ends in the same " (" token.
            int[] p = tok.encode("Question?\n\nAnswer: (", false);
            assertEquals(open[0], p[p.length - 1]);
            assertEquals(tok.tokenId("A"), new BehaviourScore(null, tok, null, 1).letterToken(AbItem.letter(" (A)")));
        }
    }

    @Test
    void trainingIsDeterministic() {
        BpeTrainer.Result again = BpeTrainer.train(texts, 700, BpeTrainer.GEMMA_SPECIALS);
        assertEquals(result.toJson(), again.toJson());
        assertArrayEquals(result.merges().get(0), again.merges().get(0));
    }

    @Test
    void badSizesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> BpeTrainer.train(texts, 100, BpeTrainer.GEMMA_SPECIALS));
    }
}
