package org.sparsesteer.steer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.sparsesteer.model.Tokenizer;

/**
 * Contrastive pairs from JSONL, one object a line, either pre-tokenised
 * ({@code {"positive_ids": [...], "negative_ids": [...]}}, full sequences with <bos>) or A/B text in the
 * Anthropic evals format ({@code question}, {@code answer_matching_behavior},
 * {@code answer_not_matching_behavior}): the sequence is the prompt for the question followed by the
 * answer without its closing bracket (" (A"), so the last token is the answer letter.
 */
public final class PairFile {
    private PairFile() {}

    public record Loaded(List<ContrastivePair> pairs, String name, String sha256) {}

    /** Reads a pair file; {@code tokenizer} may be null for pre-tokenised files. */
    public static Loaded read(Path file, Tokenizer tokenizer, PromptFormat format) {
        List<String> lines;
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read pairs: " + e.getMessage(), e);
        }
        ObjectMapper json = new ObjectMapper();
        List<ContrastivePair> pairs = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) continue;
            String where = file + ": line " + (i + 1);
            JsonNode o;
            try {
                o = json.readTree(line);
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException(where + ": not valid JSON: " + e.getOriginalMessage());
            }
            if (o == null || !o.isObject()) throw new IllegalArgumentException(where + ": not a JSON object");
            pairs.add(o.has("positive_ids") || o.has("negative_ids") ? ids(o, where) : text(o, where, tokenizer, format));
        }
        if (pairs.isEmpty()) throw new IllegalArgumentException(file + ": no pairs (the file is empty)");
        return new Loaded(pairs, file.getFileName().toString(), sha256(bytes));
    }

    private static ContrastivePair ids(JsonNode o, String where) {
        return new ContrastivePair(idArray(o, "positive_ids", where), idArray(o, "negative_ids", where));
    }

    private static int[] idArray(JsonNode o, String field, String where) {
        JsonNode a = o.get(field);
        if (a == null) throw new IllegalArgumentException(where + ": missing '" + field + "' (a pair needs both sides)");
        if (!a.isArray() || a.isEmpty()) throw new IllegalArgumentException(where + ": '" + field + "' must be a non-empty array of token ids");
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) {
            if (!a.get(i).isIntegralNumber()) throw new IllegalArgumentException(where + ": '" + field + "'[" + i + "] is not an integer");
            r[i] = a.get(i).asInt();
        }
        return r;
    }

    private static ContrastivePair text(JsonNode o, String where, Tokenizer tok, PromptFormat format) {
        String q = str(o, "question", where), pos = str(o, "answer_matching_behavior", where), neg = str(o, "answer_not_matching_behavior", where);
        if (tok == null) throw new IllegalArgumentException(where + ": text pairs need a tokenizer (the model has no tokenizer.json)");
        String prompt = format.prompt(q);
        return new ContrastivePair(tok.encode(prompt + openAnswer(pos, where), true), tok.encode(prompt + openAnswer(neg, where), true));
    }

    /** " (A)" becomes " (A": the sequence ends at the answer letter. */
    static String openAnswer(String answer, String where) {
        String a = answer.stripTrailing();
        if (!a.endsWith(")")) throw new IllegalArgumentException(where + ": answer '" + answer + "' is not of the form ' (X)'");
        return a.substring(0, a.length() - 1);
    }

    private static String str(JsonNode o, String field, String where) {
        JsonNode n = o.get(field);
        if (n == null || !n.isTextual()) throw new IllegalArgumentException(where + ": missing text field '" + field + "'");
        return n.asText();
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
