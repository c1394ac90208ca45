package org.sparsesteer.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.sparsesteer.io.AtomicFiles;

/**
 * Trains a byte-level BPE tokenizer (GPT-2 style: every byte is a base symbol, so nothing is ever
 * unknown and no byte fallback is needed) and writes it as a Hugging Face {@code tokenizer.json}
 * that {@link org.sparsesteer.model.Tokenizer} loads like Gemma's.
 *
 * <p>Ids: the special tokens first, in the order given ({@link #GEMMA_SPECIALS}: {@code <pad>}=0,
 * {@code <eos>}=1, {@code <bos>}=2, {@code <unk>}=3 as in Gemma), then the 256 byte symbols in byte
 * order, then one token per merge in the order learnt. Text is split before merging with GPT-2's
 * pattern (letters, digits, punctuation runs, each with at most one leading space), so " (A" is
 * always " (" followed by "A". Training is deterministic: the most frequent pair wins, ties go to
 * the pair whose merged string sorts first.
 */
public final class BpeTrainer {
    /** Gemma's special tokens and ids. */
    public static final List<String> GEMMA_SPECIALS = List.of("<pad>", "<eos>", "<bos>", "<unk>");

    /** GPT-2's pre-tokenization pattern, as Hugging Face's ByteLevel pre-tokenizer applies it. */
    static final Pattern SPLIT = Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    /** GPT-2's printable stand-in for each byte (bytes_to_unicode). */
    static final char[] BYTE_CHAR = new char[256];

    static {
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_CHAR[b] = printable ? (char) b : (char) (256 + n++);
        }
    }

    /** A trained tokenizer: the vocabulary (token string to id) and the merges in rank order. */
    public record Result(List<String> specials, Map<String, Integer> vocab, List<String[]> merges) {
        public int vocabSize() {
            return vocab.size();
        }

        /** The Hugging Face tokenizer.json document. */
        public ObjectNode toJson() {
            ObjectMapper m = new ObjectMapper();
            ObjectNode root = m.createObjectNode();
            root.put("version", "1.0");
            root.putNull("truncation");
            root.putNull("padding");
            ArrayNode added = root.putArray("added_tokens");
            for (String s : specials) {
                ObjectNode t = added.addObject();
                t.put("id", vocab.get(s));
                t.put("content", s);
                t.put("single_word", false);
                t.put("lstrip", false);
                t.put("rstrip", false);
                t.put("normalized", false);
                t.put("special", true);
            }
            root.putNull("normalizer");
            ObjectNode pre = root.putObject("pre_tokenizer");
            pre.put("type", "ByteLevel");
            pre.put("add_prefix_space", false);
            pre.put("trim_offsets", true);
            pre.put("use_regex", true);
            root.putNull("post_processor");
            ObjectNode dec = root.putObject("decoder");
            dec.put("type", "ByteLevel");
            dec.put("add_prefix_space", false);
            dec.put("trim_offsets", true);
            dec.put("use_regex", true);
            ObjectNode model = root.putObject("model");
            model.put("type", "BPE");
            model.putNull("dropout");
            if (specials.contains("<unk>")) model.put("unk_token", "<unk>"); else model.putNull("unk_token");
            model.putNull("continuing_subword_prefix");
            model.putNull("end_of_word_suffix");
            model.put("fuse_unk", false);
            model.put("byte_fallback", false);
            model.put("ignore_merges", false);
            ObjectNode v = model.putObject("vocab");
            vocab.entrySet().stream().sorted(Map.Entry.comparingByValue()).forEach(e -> v.put(e.getKey(), e.getValue()));
            ArrayNode mg = model.putArray("merges");
            for (String[] p : merges) mg.add(p[0] + " " + p[1]);
            return root;
        }

        /** Writes tokenizer.json (atomically). */
        public void write(Path file) throws IOException {
            String text = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(toJson());
            AtomicFiles.writeString(file, text);
        }
    }

    private BpeTrainer() {}

    /** The byte-level pre-tokens of a text (each a string of byte stand-in characters). */
    static List<String> preTokens(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = SPLIT.matcher(text);
        while (m.find()) {
            byte[] bytes = m.group().getBytes(StandardCharsets.UTF_8);
            char[] c = new char[bytes.length];
            for (int i = 0; i < bytes.length; i++) c[i] = BYTE_CHAR[bytes[i] & 0xFF];
            out.add(new String(c));
        }
        return out;
    }

    /**
     * Learns merges on {@code texts} until the vocabulary (specials + 256 bytes + merges) has
     * {@code vocabSize} tokens or no pair occurs twice.
     */
    public static Result train(Iterable<String> texts, int vocabSize, List<String> specials) {
        if (vocabSize < specials.size() + 256) {
            throw new IllegalArgumentException("vocabulary size " + vocabSize + " is below " + (specials.size() + 256) + " (specials + 256 bytes)");
        }
        if (new HashSet<>(specials).size() != specials.size()) throw new IllegalArgumentException("duplicate special tokens: " + specials);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        List<String> symbols = new ArrayList<>();          // symbol id -> string (bytes and merges)
        Map<String, Integer> symbolId = new HashMap<>();
        for (String s : specials) vocab.put(s, vocab.size());
        for (int b = 0; b < 256; b++) {
            String s = String.valueOf(BYTE_CHAR[b]);
            symbolId.put(s, symbols.size());
            symbols.add(s);
            vocab.put(s, vocab.size());
        }
        // Distinct words with their counts; sorted so that training does not depend on hash order.
        TreeMap<String, Integer> counts = new TreeMap<>();
        for (String t : texts) for (String w : preTokens(t)) counts.merge(w, 1, Integer::sum);
        int n = counts.size();
        int[][] words = new int[n][];
        long[] freq = new long[n];
        int wi = 0;
        for (Map.Entry<String, Integer> e : counts.entrySet()) {
            String w = e.getKey();
            int[] sym = new int[w.length()];
            for (int i = 0; i < sym.length; i++) sym[i] = symbolId.get(String.valueOf(w.charAt(i)));
            words[wi] = sym;
            freq[wi++] = e.getValue();
        }
        // Pair statistics: count and the words that contain each pair.
        Map<Long, Long> pairCount = new HashMap<>();
        Map<Long, Set<Integer>> pairWords = new HashMap<>();
        for (int w = 0; w < n; w++) addPairs(words[w], w, freq[w], pairCount, pairWords);
        List<String[]> merges = new ArrayList<>();
        while (vocab.size() < vocabSize) {
            long best = -1, bestCount = 0;
            String bestStr = null;
            for (Map.Entry<Long, Long> e : pairCount.entrySet()) {
                long c = e.getValue();
                if (c < 2 || c < bestCount) continue;
                String s = symbols.get(first(e.getKey())) + symbols.get(second(e.getKey()));
                int cmp = bestStr == null ? -1 : s.compareTo(bestStr);
                if (c > bestCount || cmp < 0 || (cmp == 0 && compare(symbols, e.getKey(), best) < 0)) {
                    best = e.getKey();
                    bestCount = c;
                    bestStr = s;
                }
            }
            if (best < 0) break;   // no pair occurs twice
            int a = first(best), b = second(best);
            String merged = symbols.get(a) + symbols.get(b);
            int id;
            if (symbolId.containsKey(merged)) {
                id = symbolId.get(merged);   // the same string reached by another split: reuse its token
            } else {
                id = symbols.size();
                symbols.add(merged);
                symbolId.put(merged, id);
                vocab.put(merged, vocab.size());
            }
            merges.add(new String[] {symbols.get(a), symbols.get(b)});
            for (int w : new ArrayList<>(pairWords.getOrDefault(best, Set.of()))) {
                removePairs(words[w], w, freq[w], pairCount, pairWords);
                words[w] = apply(words[w], a, b, id);
                addPairs(words[w], w, freq[w], pairCount, pairWords);
            }
            pairCount.remove(best);
            pairWords.remove(best);
        }
        return new Result(List.copyOf(specials), vocab, merges);
    }

    private static int compare(List<String> symbols, long p, long q) {
        int c = symbols.get(first(p)).compareTo(symbols.get(first(q)));
        return c != 0 ? c : symbols.get(second(p)).compareTo(symbols.get(second(q)));
    }

    private static long pair(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    private static int first(long p) {
        return (int) (p >>> 32);
    }

    private static int second(long p) {
        return (int) p;
    }

    private static void addPairs(int[] w, int idx, long f, Map<Long, Long> counts, Map<Long, Set<Integer>> where) {
        for (int i = 0; i + 1 < w.length; i++) {
            long p = pair(w[i], w[i + 1]);
            counts.merge(p, f, Long::sum);
            where.computeIfAbsent(p, k -> new HashSet<>()).add(idx);
        }
    }

    private static void removePairs(int[] w, int idx, long f, Map<Long, Long> counts, Map<Long, Set<Integer>> where) {
        for (int i = 0; i + 1 < w.length; i++) {
            long p = pair(w[i], w[i + 1]);
            Long c = counts.get(p);
            if (c == null) continue;
            if (c - f <= 0) counts.remove(p); else counts.put(p, c - f);
            Set<Integer> s = where.get(p);
            if (s != null) {
                s.remove(idx);
                if (s.isEmpty()) where.remove(p);
            }
        }
    }

    /** Replaces every non-overlapping occurrence of (a, b), left to right, by {@code merged}. */
    private static int[] apply(int[] w, int a, int b, int merged) {
        int[] out = new int[w.length];
        int k = 0;
        for (int i = 0; i < w.length; i++) {
            if (i + 1 < w.length && w[i] == a && w[i + 1] == b) {
                out[k++] = merged;
                i++;
            } else {
                out[k++] = w[i];
            }
        }
        return Arrays.copyOf(out, k);
    }
}
