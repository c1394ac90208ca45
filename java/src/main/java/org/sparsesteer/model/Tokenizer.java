package org.sparsesteer.model;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * A Hugging Face {@code tokenizer.json} through DJL's tokenizers, strictly offline: DJL may neither
 * download a native library nor a tokenizer, on any host (the CPU flavour is forced even where
 * CUDA is present, since the jar bundles only that one).
 */
public final class Tokenizer implements AutoCloseable {
    static {
        System.setProperty("ai.djl.offline", "true");
        if (System.getProperty("RUST_FLAVOR") == null) System.setProperty("RUST_FLAVOR", "cpu");
    }

    private final HuggingFaceTokenizer hf;
    private final Path source;
    private final int bosId;

    private Tokenizer(HuggingFaceTokenizer hf, Path source) {
        this.hf = hf;
        this.source = source;
        Encoding e = hf.encode("<bos>", false, false);
        long[] ids = e.getIds();
        this.bosId = ids.length == 1 ? (int) ids[0] : -1;
    }

    /** Loads {@code tokenizer.json} (or a gzipped {@code tokenizer.json.gz}), or the one in a model directory. */
    public static Tokenizer load(Path path) {
        Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        if (!Files.exists(file)) throw new ModelException(file + ": no tokenizer.json (use token ids instead, e.g. --ids)");
        Map<String, String> opts = Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false");
        try {
            if (file.getFileName().toString().endsWith(".gz")) {
                try (InputStream in = new GZIPInputStream(Files.newInputStream(file))) {
                    return new Tokenizer(HuggingFaceTokenizer.newInstance(in, opts), file);
                }
            }
            return new Tokenizer(HuggingFaceTokenizer.newInstance(file, opts), file);
        } catch (IOException | RuntimeException e) {
            throw new ModelException(file + ": cannot load tokenizer: " + e.getMessage(), e);
        }
    }

    /** Token ids of a text; {@code addBos} prepends {@code <bos>} (Gemma's tokenizer config asks for it). */
    public int[] encode(String text, boolean addBos) {
        long[] ids = hf.encode(text, false, false).getIds();
        int off = addBos ? 1 : 0;
        if (addBos && bosId < 0) throw new ModelException(source + ": the tokenizer has no <bos> token");
        int[] r = new int[ids.length + off];
        if (addBos) r[0] = bosId;
        for (int i = 0; i < ids.length; i++) r[i + off] = Math.toIntExact(ids[i]);
        return r;
    }

    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) l[i] = ids[i];
        return hf.decode(l, skipSpecialTokens);
    }

    /** The id of a single token written as in the vocabulary (e.g. "&lt;end_of_turn&gt;"), or -1. */
    public int tokenId(String token) {
        long[] ids = hf.encode(token, false, false).getIds();
        return ids.length == 1 ? (int) ids[0] : -1;
    }

    /** The tokens (vocabulary strings) of a text, for inspection. */
    public String[] tokens(String text) {
        return hf.encode(text, false, false).getTokens();
    }

    public int bosId() {
        return bosId;
    }

    @Override
    public void close() {
        hf.close();
    }
}
