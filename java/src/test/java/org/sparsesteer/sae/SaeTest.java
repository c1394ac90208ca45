package org.sparsesteer.sae;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsesteer.Fixtures;
import org.sparsesteer.io.SafetensorsFile;
import org.sparsesteer.io.SafetensorsWriter;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.tensor.Tensors;

class SaeTest {
    @TempDir
    Path dir;

    @Test
    void gemmaScopeEncodeDecodeMatchTheFixture() {
        try (Sae sae = SaeLoader.load(Fixtures.tinyA().resolve("sae/params.npz"), "blocks.2.hook_resid_post");
             SafetensorsFile g = SafetensorsFile.open(Fixtures.tinyA().resolve("sae_golden.safetensors"));
             PointerScope s = new PointerScope()) {
            assertEquals(64, sae.dIn());
            assertEquals(256, sae.width());
            Tensor x = g.load("x");
            assertTrue(Fixtures.maxAbsDiff(g.readFloats("pre_acts"), Tensors.toFloats(sae.preActivations(x))) < 1e-4);
            assertTrue(Fixtures.maxAbsDiff(g.readFloats("acts"), Tensors.toFloats(sae.encode(x))) < 1e-4);
            assertTrue(Fixtures.maxAbsDiff(g.readFloats("recon"), Tensors.toFloats(sae.decode(sae.encode(x)))) < 1e-4);
            float[] err = Tensors.toFloats(sae.error(x)), xs = g.readFloats("x"), rec = g.readFloats("recon");
            for (int i = 0; i < err.length; i++) assertEquals(xs[i] - rec[i], err[i], 1e-4);
        }
    }

    /** The fixture SAE re-saved as a SAELens directory loads to the same SAE. */
    @Test
    void saeLensDirectory() throws Exception {
        Path d = dir.resolve("sae");
        Files.createDirectories(d);
        try (Sae gs = SaeLoader.load(Fixtures.tinyA().resolve("sae/params.npz"), "blocks.2.hook_resid_post")) {
            SafetensorsWriter w = new SafetensorsWriter().add("W_enc", gs.wEnc()).add("W_dec", gs.wDec()).add("b_enc", gs.bEnc())
                    .add("b_dec", gs.bDec()).add("threshold", gs.threshold());
            w.write(d.resolve("sae_weights.safetensors"));
            Files.writeString(d.resolve("cfg.json"), "{\"architecture\":\"jumprelu\",\"d_in\":64,\"d_sae\":256,"
                    + "\"hook_name\":\"blocks.2.hook_resid_post\",\"apply_b_dec_to_input\":false,\"normalize_activations\":\"none\"}");
            try (Sae sl = SaeLoader.load(d, null); SafetensorsFile g = SafetensorsFile.open(Fixtures.tinyA().resolve("sae_golden.safetensors"));
                 PointerScope s = new PointerScope()) {
                assertEquals("blocks.2.hook_resid_post", sl.config().hookName());
                Tensor x = g.load("x");
                assertTrue(sl.encode(x).equal(gs.encode(x)));
            }
            Files.writeString(d.resolve("cfg.json"), "{\"architecture\":\"gated\",\"d_in\":64,\"d_sae\":256,\"hook_name\":\"blocks.2.hook_resid_post\"}");
            SaeException e = assertThrows(SaeException.class, () -> SaeLoader.load(d, null));
            assertTrue(e.getMessage().contains("gated") && e.getMessage().contains("cfg.json"), e.getMessage());
        }
    }

    @Test
    void topKAndReluArchitectures() throws Exception {
        Path d = dir.resolve("topk");
        Files.createDirectories(d);
        try (Sae gs = SaeLoader.load(Fixtures.tinyA().resolve("sae/params.npz"), "blocks.2.hook_resid_post")) {
            new SafetensorsWriter().add("W_enc", gs.wEnc()).add("W_dec", gs.wDec()).add("b_enc", gs.bEnc()).add("b_dec", gs.bDec())
                    .write(d.resolve("sae_weights.safetensors"));
        }
        Files.writeString(d.resolve("cfg.json"), "{\"architecture\":\"topk\",\"k\":5,\"d_in\":64,\"d_sae\":256,\"hook_name\":\"blocks.2.hook_resid_post\",\"apply_b_dec_to_input\":true}");
        try (Sae sae = SaeLoader.load(d, null); SafetensorsFile g = SafetensorsFile.open(Fixtures.tinyA().resolve("sae_golden.safetensors"));
             PointerScope s = new PointerScope()) {
            Tensor x = g.load("x");
            float[] f = Tensors.toFloats(sae.encode(x));
            float[] pre = Tensors.toFloats(sae.preActivations(x));
            for (int r = 0; r < 41; r++) {
                int nz = 0;
                for (int j = 0; j < 256; j++) if (f[r * 256 + j] != 0) nz++;
                assertTrue(nz <= 5, "row " + r + " has " + nz + " active features");
                // every kept value is a pre-activation and no dropped pre-activation exceeds a kept one
                float minKept = Float.MAX_VALUE, maxDropped = -Float.MAX_VALUE;
                for (int j = 0; j < 256; j++) {
                    if (f[r * 256 + j] != 0) {
                        assertEquals(pre[r * 256 + j], f[r * 256 + j], 0f);
                        minKept = Math.min(minKept, f[r * 256 + j]);
                    } else {
                        maxDropped = Math.max(maxDropped, pre[r * 256 + j]);
                    }
                }
                assertTrue(nz == 0 || nz < 5 || maxDropped <= minKept);
            }
        }
    }

    @Test
    void incompatibleModelAndBadPaths() {
        try (Gemma2 model = Gemma2.load(Fixtures.tinyA());
             Sae sae = SaeLoader.load(Fixtures.tinyA().resolve("sae/params.npz"), "blocks.9.hook_resid_post")) {
            SaeException e = assertThrows(SaeException.class, () -> sae.checkCompatible(model));
            assertTrue(e.getMessage().contains("blocks.9.hook_resid_post"), e.getMessage());
        }
        SaeException e = assertThrows(SaeException.class, () -> SaeLoader.load(Fixtures.tinyA().resolve("sae/params.npz"), null));
        assertTrue(e.getMessage().contains("--hook"), e.getMessage());
        assertThrows(SaeException.class, () -> SaeLoader.load(dir.resolve("nothing.npz"), "blocks.0.hook_resid_post"));
    }
}
