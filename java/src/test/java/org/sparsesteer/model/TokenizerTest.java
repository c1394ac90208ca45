package org.sparsesteer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparsesteer.Fixtures;

/** The real Gemma tokenizer (256k vocabulary), loaded offline through DJL. */
class TokenizerTest {
    static Tokenizer tok;

    @BeforeAll
    static void load() {
        tok = Tokenizer.load(Fixtures.resource("tokenizers/gemma/tokenizer.json.gz"));
    }

    @AfterAll
    static void close() {
        tok.close();
    }

    @Test
    void knownIds() {
        assertEquals(2, tok.bosId());
        assertEquals(235280, tok.tokenId("A"));
        assertEquals(235278, tok.tokenId("("));
        assertArrayEquals(new int[] {591, 235280}, tok.encode(" (A", false));
        assertEquals(106, tok.tokenId("<start_of_turn>"));
        assertEquals(107, tok.tokenId("<end_of_turn>"));
        assertEquals(0, tok.tokenId("<pad>"));
        assertEquals(1, tok.tokenId("<eos>"));
    }

    @Test
    void bosIsPrependedOnlyWhenAsked() {
        int[] with = tok.encode("Hello world", true);
        int[] without = tok.encode("Hello world", false);
        assertEquals(2, with[0]);
        assertEquals(without.length + 1, with.length);
        assertTrue(without[0] != 2);
    }

    @Test
    void roundTrips() {
        for (String s : new String[] {"Hello world", "  leading spaces and\nnewlines\n\n", "Ünïcödé ✓ 日本語 🙂", "(A) or (B)?"}) {
            assertEquals(s, tok.decode(tok.encode(s, false), false));
            assertEquals(s, tok.decode(tok.encode(s, true), true));
        }
    }

    @Test
    void chatTemplateUsesTheTurnTokens() {
        int[] ids = tok.encode(ChatTemplate.userTurn("Hi"), true);
        assertEquals(2, ids[0]);
        assertEquals(106, ids[1]);
        int ends = 0, starts = 0;
        for (int id : ids) {
            if (id == 107) ends++;
            if (id == 106) starts++;
        }
        assertEquals(1, ends);
        assertEquals(2, starts);
        assertEquals("<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", tok.decode(java.util.Arrays.copyOfRange(ids, 1, ids.length), false));
    }

    @Test
    void longTextIsNotTruncated() {
        String text = "word ".repeat(3000);
        assertTrue(tok.encode(text, false).length >= 3000);
    }

    @Test
    void missingFileIsAClearError() {
        ModelException e = assertThrows(ModelException.class, () -> Tokenizer.load(Path.of("/nonexistent/dir/tokenizer.json")));
        assertTrue(e.getMessage().contains("/nonexistent/dir/tokenizer.json"), e.getMessage());
    }
}
