package org.sparsesteer.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.sparsesteer.model.Tokenizer;

/**
 * The token sequences an SAE trains on, read from a file with one item per line: a text (tokenised
 * with BOS prepended) or a comma-separated id sequence (for models without a tokenizer). Blank lines
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

    /** The non-blank lines of a text file, failing on an empty one before a tokenizer is loaded. */
    public static List<String> lines(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage(), e);
        }
        List<String> kept = new ArrayList<>();
        for (String l : lines) if (!l.isBlank()) kept.add(l);
        if (kept.isEmpty()) throw new IllegalArgumentException(file + ": no texts (the file is empty)");
        return kept;
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
