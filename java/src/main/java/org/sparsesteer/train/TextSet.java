package org.sparsesteer.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.sparsesteer.io.AtomicFiles;
import org.sparsesteer.model.Tokenizer;

/**
 * The token sequences an SAE trains on, read from a file with one item per line: a text (tokenised
 * with BOS prepended), a JSON Lines record (files named {@code *.jsonl}: a JSON string or an object
 * with a {@code "text"} field, as Hugging Face datasets export them; the way to give texts that
 * contain newlines) or a comma-separated id sequence (for models without a tokenizer). Blank lines
 * are skipped; errors name the file and line.
 */
public final class TextSet {
    private TextSet() {}

    /** Texts (e.g. from {@link #lines}) tokenised with {@code <bos>} prepended. */
    public static List<int[]> tokenize(List<String> texts, Tokenizer tokenizer) {
        List<int[]> out = new ArrayList<>();
        for (String t : texts) out.add(tokenizer.encode(t, true));
        return out;
    }

    /**
     * The texts of a file: its non-blank lines, or for a {@code *.jsonl} file the text of each
     * record; fails on an empty file before a tokenizer is loaded.
     */
    public static List<String> lines(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage(), e);
        }
        boolean jsonl = file.getFileName().toString().endsWith(".jsonl");
        List<String> kept = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i);
            if (l.isBlank()) continue;
            kept.add(jsonl ? jsonText(file, i + 1, l) : l);
        }
        if (kept.isEmpty()) throw new IllegalArgumentException(file + ": no texts (the file is empty)");
        return kept;
    }

    /** Writes texts as JSON Lines (one JSON string per line), atomically. */
    public static void writeJsonl(List<String> texts, Path file) throws IOException {
        StringBuilder s = new StringBuilder();
        for (String t : texts) s.append(JSON.writeValueAsString(t)).append('\n');
        AtomicFiles.writeString(file, s.toString());
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private static String jsonText(Path file, int line, String record) {
        JsonNode n;
        try {
            n = JSON.readTree(record);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + " line " + line + ": not JSON: " + e.getOriginalMessage(), e);
        }
        if (n.isTextual()) return n.asText();
        if (n.isObject() && n.get("text") != null && n.get("text").isTextual()) return n.get("text").asText();
        throw new IllegalArgumentException(file + " line " + line + ": expected a JSON string or an object with a \"text\" string");
    }

    /** One comma-separated token id sequence per line; ids are checked against {@code vocabSize}. */
    public static List<int[]> readIds(Path file, int vocabSize) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage(), e);
        }
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) continue;
            String[] parts = line.split("\\s*,\\s*");
            int[] ids = new int[parts.length];
            for (int j = 0; j < parts.length; j++) {
                try {
                    ids[j] = Integer.parseInt(parts[j]);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(file + " line " + (i + 1) + ": '" + parts[j] + "' is not a token id");
                }
                if (ids[j] < 0 || ids[j] >= vocabSize) {
                    throw new IllegalArgumentException(file + " line " + (i + 1) + ": token id " + ids[j] + " is outside the vocabulary [0, "
                            + vocabSize + ")");
                }
            }
            out.add(ids);
        }
        if (out.isEmpty()) throw new IllegalArgumentException(file + ": no id sequences (the file is empty)");
        return out;
    }
}
