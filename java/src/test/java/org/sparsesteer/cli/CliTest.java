package org.sparsesteer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsesteer.Fixtures;
import org.sparsesteer.io.SafetensorsFile;
import org.sparsesteer.steer.SteeringVector;

/** The CLI end to end, in process: the same numbers as the API and the fixtures. */
class CliTest {
    @TempDir
    Path dir;

    static final String MODEL = Fixtures.tinyA().toString();
    static final String SAE = Fixtures.tinyA().resolve("sae/params.npz").toString();
    static final String HOOK = "blocks.2.hook_resid_post";

    /** Runs the CLI, returning its exit code; stderr is captured into {@code err}. */
    private int sas(StringBuilder err, String... args) {
        PrintStream old = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true));
        try {
            return Main.run(args);
        } finally {
            System.setErr(old);
            if (err != null) err.append(buf);
        }
    }

    private static String ids(long[] l) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < l.length; i++) s.append(i > 0 ? "," : "").append(l[i]);
        return s.toString();
    }

    @Test
    void forwardWritesTheReferenceLogitsAndCaptures() throws Exception {
        Path out = dir.resolve("f.safetensors");
        try (SafetensorsFile g = SafetensorsFile.open(Fixtures.tinyA().resolve("golden.safetensors"))) {
            assertEquals(0, sas(null, "forward", "--model", MODEL, "--ids", ids(g.readLongs("seq1.input_ids")),
                    "--capture", "blocks.1.hook_resid_post", "--out", out.toString()));
            try (SafetensorsFile f = SafetensorsFile.open(out)) {
                assertTrue(Fixtures.maxAbsDiff(g.readFloats("seq1.logits"), f.readFloats("logits")) < 1e-4);
                assertTrue(Fixtures.maxAbsDiff(g.readFloats("seq1.resid_post.1"), f.readFloats("blocks.1.hook_resid_post")) < 1e-4);
                assertEquals(2, f.info("blocks.1.hook_resid_post").shape().length);
            }
        }
    }

    @Test
    void buildAndSteeredForwardMatchTheSasFixture() throws Exception {
        Path pairs = Fixtures.tinyA().resolve("sas/pairs.jsonl");
        Path v = dir.resolve("v.safetensors"), v8 = dir.resolve("v8.safetensors"), t8 = dir.resolve("t8.safetensors");
        assertEquals(0, sas(null, "build", "--model", MODEL, "--sae", SAE, "--hook", HOOK, "--pairs", pairs.toString(), "--out", v.toString()));
        assertEquals(0, sas(null, "build", "--model", MODEL, "--sae", SAE, "--hook", HOOK, "--pairs", pairs.toString(), "--tau", "0.8", "--out", v8.toString()));
        assertEquals(0, sas(null, "build", "--model", MODEL, "--sae", SAE, "--hook", HOOK, "--pairs", pairs.toString(), "--top-k", "8", "--out", t8.toString()));
        try (SafetensorsFile g = SafetensorsFile.open(Fixtures.tinyA().resolve("sas/sas_golden.safetensors"))) {
            assertTrue(Fixtures.maxAbsDiff(g.readFloats("v"), SteeringVector.read(v).dense(256)) < 1e-5);
            assertTrue(Fixtures.maxAbsDiff(g.readFloats("v_tau0.8"), SteeringVector.read(v8).dense(256)) < 1e-5);
            assertTrue(Fixtures.maxAbsDiff(g.readFloats("v_top8"), SteeringVector.read(t8).dense(256)) < 1e-5);
            SteeringVector read = SteeringVector.read(v);
            assertEquals("pairs.jsonl", read.metadata().get("dataset"));
            assertEquals(HOOK, read.metadata().get("hook"));
            for (String[] c : new String[][] {{"v", v.toString(), "4"}, {"v", v.toString(), "-4"}, {"v_top8", t8.toString(), "4"}}) {
                for (int t = 0; t < 3; t++) {
                    Path out = dir.resolve("s" + t + c[0] + c[2] + ".safetensors");
                    assertEquals(0, sas(null, "forward", "--model", MODEL, "--ids", ids(g.readLongs("test" + t + ".input_ids")),
                            "--sae", SAE, "--hook", HOOK, "--steer", c[1], "--scale", c[2], "--out", out.toString()));
                    try (SafetensorsFile f = SafetensorsFile.open(out)) {
                        double d = Fixtures.maxAbsDiff(g.readFloats("test" + t + ".logits." + c[0] + ".lam" + c[2]), f.readFloats("logits"));
                        assertTrue(d < 1e-4, c[0] + " lam " + c[2] + " test" + t + ": " + d);
                    }
                }
            }
        }
        StringBuilder out = new StringBuilder();
        assertEquals(0, sas(out, "inspect", "--vector", t8.toString(), "--json"));
    }

    /** Runs the CLI and returns what it printed on stdout. */
    private String stdout(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true));
        try {
            assertEquals(0, Main.run(args), "exit code of " + String.join(" ", args));
        } finally {
            System.setOut(old);
        }
        return buf.toString();
    }

    @Test
    void steerAndInspectCommands() throws Exception {
        Path v = dir.resolve("v.safetensors");
        assertEquals(0, sas(null, "build", "--model", MODEL, "--sae", SAE, "--hook", HOOK, "--pairs",
                Fixtures.tinyA().resolve("sas/pairs.jsonl").toString(), "--out", v.toString()));
        String steer = stdout("steer", "--model", MODEL, "--sae", SAE, "--hook", HOOK, "--steer", v.toString(), "--scale", "8",
                "--ids", "2,17,301", "--max-new-tokens", "5");
        assertTrue(steer.contains("=== unsteered ===") && steer.contains("=== steered (scale as given) ===")
                && steer.contains("=== steered (opposite scale) ==="), steer);
        String vec = stdout("inspect", "--vector", v.toString(), "--top", "5");
        assertEquals(2 + 5, vec.strip().split("\n").length, vec);
        String json = stdout("inspect", "--model", MODEL, "--sae", SAE, "--hook", HOOK, "--ids", "2,17,301,5", "--top-k", "3", "--json");
        com.fasterxml.jackson.databind.JsonNode tokens = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json).get("tokens");
        assertEquals(4, tokens.size());
        for (com.fasterxml.jackson.databind.JsonNode t : tokens) assertTrue(t.get("features").size() <= 3);
        assertTrue(tokens.get(3).get("features").size() > 0, "the fixture SAE has L0 ~ 47: some feature fires");
    }

    @Test
    void badInputIsAClearErrorAndWritesNothing() throws Exception {
        Path out = dir.resolve("never.safetensors");
        Path empty = Files.writeString(dir.resolve("empty.jsonl"), "");
        Path oneSided = Files.writeString(dir.resolve("one.jsonl"), "{\"positive_ids\": [2, 5, 65]}\n");
        Path malformed = Files.writeString(dir.resolve("bad.jsonl"), "{\"positive_ids\": [2, 65], \"negative_ids\": [2, 66]}\n{oops\n");
        Path pairs = Fixtures.tinyA().resolve("sas/pairs.jsonl");
        String[][] cases = {
            {"empty", "build", "--model", MODEL, "--sae", SAE, "--hook", HOOK, "--pairs", empty.toString(), "--out", out.toString()},
            {"negative_ids", "build", "--model", MODEL, "--sae", SAE, "--hook", HOOK, "--pairs", oneSided.toString(), "--out", out.toString()},
            {"line 2", "build", "--model", MODEL, "--sae", SAE, "--hook", HOOK, "--pairs", malformed.toString(), "--out", out.toString()},
            {"--tau", "build", "--model", MODEL, "--sae", SAE, "--hook", HOOK, "--pairs", pairs.toString(), "--tau", "1.5", "--out", out.toString()},
            {"blocks.7.hook_resid_post", "build", "--model", MODEL, "--sae", SAE, "--hook", "blocks.7.hook_resid_post", "--pairs", pairs.toString(), "--out", out.toString()},
            {"--scale", "forward", "--model", MODEL, "--ids", "2,3", "--sae", SAE, "--hook", HOOK, "--steer", "x.safetensors", "--out", out.toString()},
        };
        for (String[] c : cases) {
            StringBuilder err = new StringBuilder();
            int rc = sas(err, java.util.Arrays.copyOfRange(c, 1, c.length));
            assertTrue(rc != 0, "exit code for " + c[0]);
            assertTrue(err.toString().contains(c[0]), "'" + c[0] + "' not in: " + err);
        }
        assertFalse(Files.exists(out), "a failed command left an output file");
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "temporary file left behind");
        }
    }

    @Test
    void aVectorBuiltForAnotherSaeIsRefused() throws Exception {
        Path v = dir.resolve("v.safetensors");
        assertEquals(0, sas(null, "build", "--model", MODEL, "--sae", SAE, "--hook", HOOK, "--pairs",
                Fixtures.tinyA().resolve("sas/pairs.jsonl").toString(), "--top-k", "4", "--out", v.toString()));
        // the same SAE bytes at another hook, then a different SAE (saved as SAELens with other weights)
        StringBuilder err = new StringBuilder();
        assertTrue(sas(err, "forward", "--model", MODEL, "--ids", "2,3,4", "--sae", SAE, "--hook", "blocks.1.hook_resid_post",
                "--steer", v.toString(), "--scale", "2", "--out", dir.resolve("o.safetensors").toString()) != 0);
        assertTrue(err.toString().contains("blocks.2.hook_resid_post"), err.toString());
        Path other = dir.resolve("other");
        Files.createDirectories(other);
        try (org.sparsesteer.sae.Sae s = org.sparsesteer.sae.SaeLoader.load(Path.of(SAE), HOOK);
             org.bytedeco.pytorch.Tensor enc2 = s.wEnc().mul(new org.bytedeco.pytorch.Scalar(2.0))) {
            new org.sparsesteer.io.SafetensorsWriter().add("W_enc", enc2).add("W_dec", s.wDec()).add("b_enc", s.bEnc())
                    .add("b_dec", s.bDec()).add("threshold", s.threshold()).write(other.resolve("sae_weights.safetensors"));
        }
        Files.writeString(other.resolve("cfg.json"), "{\"architecture\":\"jumprelu\",\"d_in\":64,\"d_sae\":256,\"hook_name\":\"" + HOOK + "\"}");
        StringBuilder err2 = new StringBuilder();
        assertTrue(sas(err2, "forward", "--model", MODEL, "--ids", "2,3,4", "--sae", other.toString(),
                "--steer", v.toString(), "--scale", "2", "--out", dir.resolve("o.safetensors").toString()) != 0);
        assertTrue(err2.toString().contains("another SAE"), err2.toString());
    }

    @Test
    void anSaeOfAnotherWidthOfModelIsRefused() throws Exception {
        Path other = dir.resolve("d32");
        Files.createDirectories(other);
        try (org.bytedeco.pytorch.Tensor we = org.sparsesteer.tensor.Tensors.zeros(org.bytedeco.pytorch.global.torch.ScalarType.Float, 32, 16);
             org.bytedeco.pytorch.Tensor wd = org.sparsesteer.tensor.Tensors.zeros(org.bytedeco.pytorch.global.torch.ScalarType.Float, 16, 32);
             org.bytedeco.pytorch.Tensor be = org.sparsesteer.tensor.Tensors.zeros(org.bytedeco.pytorch.global.torch.ScalarType.Float, 16);
             org.bytedeco.pytorch.Tensor bd = org.sparsesteer.tensor.Tensors.zeros(org.bytedeco.pytorch.global.torch.ScalarType.Float, 32)) {
            new org.sparsesteer.io.SafetensorsWriter().add("W_enc", we).add("W_dec", wd).add("b_enc", be).add("b_dec", bd)
                    .write(other.resolve("sae_weights.safetensors"));
        }
        Files.writeString(other.resolve("cfg.json"), "{\"architecture\":\"standard\",\"d_in\":32,\"d_sae\":16,\"hook_name\":\"" + HOOK + "\"}");
        StringBuilder err = new StringBuilder();
        assertTrue(sas(err, "build", "--model", MODEL, "--sae", other.toString(), "--pairs",
                Fixtures.tinyA().resolve("sas/pairs.jsonl").toString(), "--out", dir.resolve("v.safetensors").toString()) != 0);
        assertTrue(err.toString().contains("d_in is 32") && err.toString().contains("hidden size is 64"), err.toString());
    }

    @Test
    void versionNamesTheKernelLibrary() {
        StringBuilder out = new StringBuilder(), err = new StringBuilder();
        assertEquals(0, sasOut(out, err, "--version"), err.toString());
        assertTrue(out.toString().contains("kernels: sas_kernels " + org.sparsesteer.kernels.SasKernels.version()),
                out.toString());
    }

    /** Runs the CLI with stdout captured into {@code out} (stderr into {@code err}). */
    private int sasOut(StringBuilder out, StringBuilder err, String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true));
        try {
            return sas(err, args);
        } finally {
            System.setOut(old);
            out.append(buf);
        }
    }

    private Path idsFile(String name, int n) throws Exception {
        java.util.Random r = new java.util.Random(11);
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < n; i++) {
            s.append(2);
            for (int j = 0, len = 10 + r.nextInt(20); j < len; j++) s.append(',').append(3 + r.nextInt(509));
            s.append('\n');
        }
        return Files.writeString(dir.resolve(name), s.toString());
    }

    @Test
    void trainSaeWritesALoadableSaeLensDirectory() throws Exception {
        Path ids = idsFile("ids.txt", 16), out = dir.resolve("trained");
        StringBuilder stdout = new StringBuilder(), err = new StringBuilder();
        int rc = sasOut(stdout, err, "train-sae", "--model", MODEL, "--hook", "blocks.1.hook_resid_post", "--ids-file", ids.toString(),
                "--architecture", "topk", "--width", "64", "--k", "4", "--steps", "20", "--batch-size", "32", "--lr", "3e-3",
                "--eval-fraction", "0.25", "--seed", "3", "--out", out.toString());
        assertEquals(0, rc, err.toString());
        assertTrue(stdout.toString().contains("explained variance") && stdout.toString().contains("dead features"), stdout.toString());
        try (org.sparsesteer.sae.Sae sae = org.sparsesteer.sae.SaeLoader.load(out, null)) {
            assertEquals(org.sparsesteer.sae.SaeConfig.Architecture.TOPK, sae.config().architecture());
            assertEquals(4, sae.config().k());
            assertEquals(64, sae.width());
            assertEquals("blocks.1.hook_resid_post", sae.config().hookName());
        }
        String cfg = Files.readString(out.resolve("cfg.json"));
        assertTrue(cfg.contains("\"model_name\"") && cfg.contains("\"training\""), cfg);
    }

    @Test
    void trainSaeBadArgumentsNameTheOption() throws Exception {
        Path ids = idsFile("ids.txt", 8), out = dir.resolve("never");
        Path empty = Files.writeString(dir.resolve("empty.txt"), "\n");
        // each case: the text that must appear in the error, then options replacing or adding to the defaults
        String[][] cases = {
            {"--k", "--k", "17"},
            {"--width", "--width", "0"},
            {"--architecture", "--architecture", "gated"},
            {"blocks.9.hook_resid_post", "--hook", "blocks.9.hook_resid_post"},
            {"--text", "--ids-file", null, "--text", empty.toString()},
            {"--ids-file", "--ids-file", empty.toString()},
            {"tokenizer.json", "--ids-file", null, "--text", ids.toString()},
            {"--steps", "--epochs", "1"},
        };
        for (String[] c : cases) {
            java.util.Map<String, String> opts = new java.util.LinkedHashMap<>();
            String[] defaults = {"--model", MODEL, "--hook", "blocks.1.hook_resid_post", "--ids-file", ids.toString(), "--architecture", "topk",
                "--width", "16", "--k", "4", "--steps", "2", "--batch-size", "8", "--out", out.toString()};
            for (int i = 0; i < defaults.length; i += 2) opts.put(defaults[i], defaults[i + 1]);
            for (int i = 1; i < c.length; i += 2) opts.put(c[i], c[i + 1]);
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("train-sae"));
            opts.forEach((k, v) -> {
                if (v != null) {
                    args.add(k);
                    args.add(v);
                }
            });
            StringBuilder err = new StringBuilder();
            assertTrue(sas(err, args.toArray(String[]::new)) != 0, "exit code for " + c[0]);
            assertTrue(err.toString().contains(c[0]) && !err.toString().contains("Usage"), "'" + c[0] + "' not in: " + err);
        }
        assertFalse(Files.exists(out), "a failed command left an output directory");
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "temporary file left behind");
        }
    }
}
