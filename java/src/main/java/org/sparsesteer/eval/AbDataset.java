package org.sparsesteer.eval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.sparsesteer.model.Tokenizer;
import org.sparsesteer.steer.ContrastivePair;
import org.sparsesteer.steer.PromptFormat;

/**
 * A behaviour's A/B items (Anthropic evals format), with the deterministic split used everywhere: a
 * seeded shuffle, the first {@code testSize} items held out for testing, the rest for building.
 */
public record AbDataset(String name, List<AbItem> items) {
    /** The behaviour sets bundled in the jar (resources under {@code org/sparsesteer/data/anthropic-evals/}). */
    public static final List<String> BUNDLED = List.of("coordinate-other-ais", "corrigible-neutral-HHH", "myopic-reward",
            "power-seeking-inclination", "survival-instinct");

    public static AbDataset read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage(), e);
        }
        return parse(lines, file.toString(), file.getFileName().toString().replaceFirst("\\.jsonl$", ""));
    }

    /** A bundled behaviour set by name (see {@link #BUNDLED}), read from the classpath. */
    public static AbDataset bundled(String name) {
        String res = "/org/sparsesteer/data/anthropic-evals/" + name + ".jsonl";
        try (InputStream in = AbDataset.class.getResourceAsStream(res)) {
            if (in == null) throw new IllegalArgumentException("no bundled behaviour set '" + name + "' (there are " + BUNDLED + ")");
            return parse(new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList(), "classpath:" + res, name);
        } catch (IOException e) {
            throw new IllegalArgumentException(res + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** Parses JSONL lines; {@code source} names them in errors. */
    public static AbDataset parse(List<String> lines, String source, String name) {
        ObjectMapper json = new ObjectMapper();
        List<AbItem> items = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) continue;
            String where = source + ": line " + (i + 1);
            try {
                JsonNode o = json.readTree(lines.get(i));
                JsonNode q = o.get("question"), m = o.get("answer_matching_behavior"), n = o.get("answer_not_matching_behavior");
                if (q == null || m == null || n == null) {
                    throw new IllegalArgumentException(where + ": needs question, answer_matching_behavior, answer_not_matching_behavior");
                }
                AbItem it = new AbItem(q.asText(), m.asText(), n.asText());
                AbItem.letter(it.matching());
                AbItem.letter(it.notMatching());
                items.add(it);
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException(where + ": not valid JSON: " + e.getOriginalMessage());
            } catch (IllegalArgumentException e) {
                throw e.getMessage().startsWith(where) ? e : new IllegalArgumentException(where + ": " + e.getMessage(), e);
            }
        }
        if (items.isEmpty()) throw new IllegalArgumentException(source + ": no items");
        return new AbDataset(name, List.copyOf(items));
    }

    public record Split(List<AbItem> build, List<AbItem> test, long seed) {}

    /** Seeded shuffle; the first {@code testSize} items are the held-out test set, the rest build. */
    public Split split(int testSize, long seed) {
        if (testSize < 1 || testSize >= items.size()) {
            throw new IllegalArgumentException(name + ": test size " + testSize + " must be in [1, " + (items.size() - 1) + "]");
        }
        List<AbItem> shuffled = new ArrayList<>(items);
        Collections.shuffle(shuffled, new Random(seed));
        return new Split(List.copyOf(shuffled.subList(testSize, shuffled.size())), List.copyOf(shuffled.subList(0, testSize)), seed);
    }

    /** Contrastive pairs: prompt + answer up to its letter, for the matching and the other answer. */
    public static List<ContrastivePair> pairs(List<AbItem> items, Tokenizer tok, PromptFormat format) {
        List<ContrastivePair> r = new ArrayList<>();
        for (AbItem it : items) {
            String p = format.prompt(it.question());
            r.add(new ContrastivePair(tok.encode(p + open(it.matching()), true), tok.encode(p + open(it.notMatching()), true)));
        }
        return r;
    }

    static String open(String answer) {
        String a = answer.stripTrailing();
        return a.substring(0, a.length() - 1);
    }
}
