package org.sparsesteer.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsesteer.Fixtures;
import org.sparsesteer.tensor.Tensors;

class NpzFileTest {
    @TempDir
    Path dir;

    // ---- the real fixture -------------------------------------------------------------------

    @Test
    void readsTheGemmaScopeStyleFixture() {
        Path sae = Fixtures.tinyA().resolve("sae/params.npz");
        try (NpzFile npz = NpzFile.open(sae);
             SafetensorsFile golden = SafetensorsFile.open(Fixtures.tinyA().resolve("sae_golden.safetensors"))) {
            assertEquals(List.of("W_enc", "W_dec", "b_enc", "b_dec", "threshold"), List.copyOf(npz.arrays().keySet()));
            assertArrayEquals(new long[] {64, 256}, npz.info("W_enc").shape());
            assertArrayEquals(new long[] {256, 64}, npz.info("W_dec").shape());
            assertArrayEquals(new long[] {256}, npz.info("b_enc").shape());
            assertArrayEquals(new long[] {64}, npz.info("b_dec").shape());
            assertArrayEquals(new long[] {256}, npz.info("threshold").shape());
            for (NpyInfo a : npz.arrays().values()) {
                assertEquals(DType.F32, a.dtype(), a.name());
                assertEquals(a.numel() * 4, a.byteSize(), a.name());
            }
            // The fixture stores W_enc column-major (as W_dec.T-like arrays often are): load transposes it.
            assertTrue(npz.info("W_enc").fortranOrder());
            assertFalse(npz.info("W_dec").fortranOrder());

            float[] x = golden.readFloats("x"), pre = golden.readFloats("pre_acts");
            float[] acts = golden.readFloats("acts"), recon = golden.readFloats("recon");
            float[] thr = npz.readFloats("threshold");
            int n = x.length / 64;
            try (Tensor xt = Tensors.fromFloats(x, n, 64); Tensor wEnc = npz.load("W_enc", ScalarType.Float);
                 Tensor bEnc = npz.load("b_enc", ScalarType.Float); Tensor xw = xt.matmul(wEnc); Tensor p = xw.add(bEnc)) {
                assertArrayEquals(new long[] {64, 256}, Tensors.shape(wEnc));
                assertTrue(Fixtures.maxAbsDiff(pre, Tensors.toFloats(p)) < 1e-4, "pre_acts = x W_enc + b_enc");
            }
            for (int i = 0; i < acts.length; i++) {
                assertEquals(pre[i] > thr[i % 256] ? pre[i] : 0f, acts[i], "JumpReLU with the npz threshold at " + i);
            }
            try (Tensor a = Tensors.fromFloats(acts, n, 256); Tensor wDec = npz.load("W_dec", ScalarType.Float);
                 Tensor bDec = npz.load("b_dec", ScalarType.Float); Tensor aw = a.matmul(wDec); Tensor r = aw.add(bDec)) {
                assertTrue(Fixtures.maxAbsDiff(recon, Tensors.toFloats(r)) < 1e-4, "recon = acts W_dec + b_dec");
            }
        }
    }

    @Test
    void tinyChunksGiveTheSameTensors() {
        // Real SAEs are copied in 256 MB chunks; tiny chunks exercise the row splitting and the
        // recursion into rows larger than a chunk, for both C- and Fortran-order arrays.
        try (NpzFile npz = NpzFile.open(Fixtures.tinyA().resolve("sae/params.npz"))) {
            for (String name : List.of("W_enc", "W_dec", "b_enc")) {
                float[] whole = npz.readFloats(name);
                for (long chunk : new long[] {1, 4, 100, 1000}) {
                    try (Tensor t = npz.load(name, ScalarType.Float, chunk)) {
                        assertArrayEquals(npz.info(name).shape(), Tensors.shape(t));
                        assertArrayEquals(whole, Tensors.toFloats(t), name + " in chunks of " + chunk);
                    }
                }
            }
            try (Tensor bf = npz.load("W_dec", ScalarType.BFloat16)) {
                assertEquals(ScalarType.BFloat16.value, bf.scalar_type().value);
            }
        }
    }

    // ---- archives written here ----------------------------------------------------------------

    /** The same arrays for every writer: name -> .npy bytes. */
    private static Map<String, byte[]> sampleArrays() {
        Map<String, byte[]> m = new LinkedHashMap<>();
        m.put("f32", npy("<f4", false, new long[] {2, 3}, floats(1.5f, -2.25f, 3f, 0.0009765625f, 0f, 7f), 1));
        // [[1, 2, 3], [4, 5, 6]] stored column-major
        m.put("fortran", npy("<f4", true, new long[] {2, 3}, floats(1, 4, 2, 5, 3, 6), 1));
        m.put("f64", npy("<f8", false, new long[] {3}, le(24, b -> b.putDouble(0.5).putDouble(-3).putDouble(1e-3)), 1));
        m.put("f16", npy("<f2", false, new long[] {3}, le(6, b -> b.putShort((short) 0x3C00).putShort((short) 0xC000).putShort((short) 0x3800)), 1));
        m.put("scalar", npy("<i8", false, new long[] {}, le(8, b -> b.putLong(1L << 40)), 1));
        m.put("i32", npy("<i4", false, new long[] {5}, le(20, b -> b.putInt(-1).putInt(0).putInt(7).putInt(Integer.MAX_VALUE).putInt(-5)), 1));
        m.put("u8", npy("|u1", false, new long[] {2, 2}, new byte[] {0, (byte) 255, 7, (byte) 128}, 1));
        m.put("empty", npy("<f4", false, new long[] {0, 4}, new byte[0], 1));
        m.put("v2", npy("<f4", false, new long[] {2}, floats(-1f, 8f), 2));
        return m;
    }

    private static void checkSample(NpzFile npz) {
        assertEquals(List.copyOf(sampleArrays().keySet()), List.copyOf(npz.arrays().keySet()));
        assertArrayEquals(new float[] {1.5f, -2.25f, 3f, 0.0009765625f, 0f, 7f}, npz.readFloats("f32"));
        assertArrayEquals(new long[] {2, 3}, npz.info("f32").shape());
        assertEquals(24, npz.info("f32").byteSize());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, npz.readFloats("fortran"));
        assertArrayEquals(new long[] {2, 3}, npz.info("fortran").shape());
        assertEquals(DType.F64, npz.info("f64").dtype());
        try (Tensor d = npz.load("f64", ScalarType.Double)) {
            try (Tensor e = d.select(0, 2)) {
                assertEquals(1e-3, e.item_double());
            }
        }
        assertArrayEquals(new float[] {0.5f, -3f, 1e-3f}, npz.readFloats("f64"));
        assertArrayEquals(new float[] {1f, -2f, 0.5f}, npz.readFloats("f16"));
        assertEquals(0, npz.info("scalar").shape().length);
        try (Tensor s = npz.load("scalar", ScalarType.Long)) {
            assertEquals(0, s.dim());
            assertArrayEquals(new long[] {1L << 40}, Tensors.toLongs(s));
        }
        try (Tensor t = npz.load("i32", ScalarType.Int)) {
            assertArrayEquals(new long[] {-1, 0, 7, Integer.MAX_VALUE, -5}, Tensors.toLongs(t));
        }
        try (Tensor t = npz.load("u8", ScalarType.Long)) {
            assertArrayEquals(new long[] {2, 2}, Tensors.shape(t));
            assertArrayEquals(new long[] {0, 255, 7, 128}, Tensors.toLongs(t));
        }
        try (Tensor t = npz.load("empty", ScalarType.Float)) {
            assertArrayEquals(new long[] {0, 4}, Tensors.shape(t));
        }
        assertArrayEquals(new float[] {-1f, 8f}, npz.readFloats("v2"));
        assertTrue(npz.contains("v2"));
        assertFalse(npz.contains("v2.npy"));
    }

    @Test
    void zip64ArchiveReadsBackExactly() throws IOException {
        Zip zip = new Zip(true);
        sampleArrays().forEach((name, npy) -> zip.add(name + ".npy", npy));
        Path p = write("zip64.npz", zip.finish("archive comment, so the end record is not the last 22 bytes"));
        try (NpzFile npz = NpzFile.open(p)) {
            checkSample(npz);
        }
    }

    @Test
    void zipOutputStreamStoredArchiveReadsBack() throws IOException {
        Path p = dir.resolve("java.npz");
        try (OutputStream out = Files.newOutputStream(p); ZipOutputStream z = new ZipOutputStream(out)) {
            for (Map.Entry<String, byte[]> e : sampleArrays().entrySet()) storedEntry(z, e.getKey() + ".npy", e.getValue());
            storedEntry(z, "notes.txt", "not an array: ignored".getBytes(StandardCharsets.UTF_8));
        }
        try (NpzFile npz = NpzFile.open(p)) {
            checkSample(npz);
        }
    }

    // ---- errors ---------------------------------------------------------------------------------

    private static void assertRejected(Path p, String... mustMention) {
        NpzException e = assertThrows(NpzException.class, () -> NpzFile.open(p).close());
        assertMentions(e, p, mustMention);
    }

    private static void assertMentions(Exception e, Path p, String... mustMention) {
        assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
        for (String m : mustMention) assertTrue(e.getMessage().contains(m), "message mentions '" + m + "': " + e.getMessage());
    }

    @Test
    void deflatedMemberSaysToResaveUncompressed() throws IOException {
        Path p = dir.resolve("compressed.npz");
        try (OutputStream out = Files.newOutputStream(p); ZipOutputStream z = new ZipOutputStream(out)) {
            z.putNextEntry(new ZipEntry("W_enc.npy")); // DEFLATED, as np.savez_compressed writes
            z.write(npy("<f4", false, new long[] {2}, floats(1, 2), 1));
            z.closeEntry();
        }
        assertRejected(p, "'W_enc'", "DEFLATED", "np.savez");
    }

    @Test
    void truncatedAndGarbageFiles() throws IOException {
        byte[] real = Files.readAllBytes(Fixtures.tinyA().resolve("sae/params.npz"));
        assertRejected(write("half.npz", Arrays.copyOf(real, real.length / 2)), "truncated");
        assertRejected(write("short.npz", Arrays.copyOf(real, real.length - 1)), "truncated");
        assertRejected(write("empty.npz", new byte[0]), "not a zip");
        byte[] garbage = new byte[4096];
        new Random(7).nextBytes(garbage);
        assertRejected(write("garbage.npz", garbage), "not a zip");

        // A directory that claims more data than the file holds.
        Path past = write("past.npz", new Zip(false).add("w.npy", npy("<f4", false, new long[] {2}, floats(1, 2), 1), 0, 0, 100_000).finish(""));
        assertRejected(past, "'w'", "past the end");
        Path past64 = write("past64.npz", new Zip(true).add("w.npy", npy("<f4", false, new long[] {2}, floats(1, 2), 1), 0, 0, 1L << 40).finish(""));
        assertRejected(past64, "'w'", "past the end");
    }

    @Test
    void missingArrayNamesTheFileAndArray() throws IOException {
        Zip zip = new Zip(false);
        sampleArrays().forEach((name, npy) -> zip.add(name + ".npy", npy));
        Path p = write("ok.npz", zip.finish(""));
        try (NpzFile npz = NpzFile.open(p)) {
            assertMentions(assertThrows(NpzException.class, () -> npz.info("nope")), p, "'nope'");
            assertMentions(assertThrows(NpzException.class, () -> npz.load("nope", ScalarType.Float)), p, "'nope'");
            checkSample(npz);
        }
    }

    @Test
    void unsupportedDescrs() throws IOException {
        for (String descr : List.of(">f4", "<c8", "|O", "<V2")) {
            Path p = write("d.npz", new Zip(false).add("w.npy", npy(descr, false, new long[] {1}, new byte[2], 1)).finish(""));
            assertRejected(p, "'w'", "'" + descr + "'");
        }
        byte[] structured = npyWithHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 1, floats(1));
        assertRejected(write("s.npz", new Zip(false).add("w.npy", structured).finish("")), "'w'", "structured");
    }

    @Test
    void membersThatLie() throws IOException {
        byte[] good = npy("<f4", false, new long[] {2}, floats(1, 2), 1);
        assertRejected(write("enc.npz", new Zip(false).add("w.npy", good, 0, 1, good.length).finish("")), "'w'", "encrypted");
        assertRejected(write("size.npz", new Zip(false).add("w.npy", npy("<f4", false, new long[] {3}, floats(1, 2, 3, 4), 1)).finish("")),
                "'w'", "needs 12");
        assertRejected(write("magic.npz", new Zip(false).add("x.npy", "hello, world! not numpy".getBytes(StandardCharsets.UTF_8)).finish("")),
                "'x'", "magic");
        assertRejected(write("hdr.npz", new Zip(false).add("w.npy", npyWithHeader("{'descr': '<f4', 'shape': (1,), }", 1, floats(1))).finish("")),
                "'w'", "keys");
        assertRejected(write("dup.npz", new Zip(false).add("w.npy", good).add("w.npy", good).finish("")), "'w'", "twice");
    }

    // ---- writing .npy and zip bytes -------------------------------------------------------------

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private static void storedEntry(ZipOutputStream z, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        z.putNextEntry(e);
        z.write(data);
        z.closeEntry();
    }

    private static byte[] npy(String descr, boolean fortran, long[] shape, byte[] data, int major) {
        StringBuilder t = new StringBuilder("(");
        for (long s : shape) t.append(t.length() > 1 ? ", " : "").append(s);
        t.append(shape.length == 1 ? ",)" : ")");
        String dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + t + ", }";
        return npyWithHeader(dict, major, data);
    }

    /** Magic, version, header length, the dict padded with spaces and a newline to 64 bytes, data. */
    private static byte[] npyWithHeader(String dict, int major, byte[] data) {
        int prefix = major == 1 ? 10 : 12;
        int total = (prefix + dict.length() + 1 + 63) / 64 * 64;
        String header = dict + " ".repeat(total - prefix - dict.length() - 1) + "\n";
        ByteBuffer b = ByteBuffer.allocate(total + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        if (major == 1) b.putShort((short) header.length()); else b.putInt(header.length());
        return b.put(header.getBytes(StandardCharsets.ISO_8859_1)).put(data).array();
    }

    private static byte[] floats(float... v) {
        return le(4 * v.length, b -> { for (float f : v) b.putFloat(f); });
    }

    private static byte[] le(int n, java.util.function.Consumer<ByteBuffer> fill) {
        ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
        fill.accept(b);
        return b.array();
    }

    /**
     * A minimal zip writer for STORED members. With {@code zip64} it writes what Python's zipfile
     * writes for a large archive: 0xFFFFFFFF size fields with a local ZIP64 extra field (sizes
     * only), central entries whose sizes and offset all live in the ZIP64 extra field, and a ZIP64
     * end record and locator before a saturated classic end record. Without it, each local header
     * carries a padding extra field the central directory lacks, as alignment tools add.
     */
    private static final class Zip {
        private final boolean zip64;
        private final Le body = new Le();
        private final Le central = new Le();
        private int count;

        Zip(boolean zip64) {
            this.zip64 = zip64;
        }

        Zip add(String name, byte[] data) {
            return add(name, data, 0, 0, data.length);
        }

        /** Adds a member that declares {@code declared} bytes, whatever {@code data} holds. */
        Zip add(String name, byte[] data, int method, int flags, long declared) {
            byte[] n = name.getBytes(StandardCharsets.UTF_8);
            CRC32 crc = new CRC32();
            crc.update(data);
            long offset = body.size();
            long small = zip64 ? 0xFFFFFFFFL : declared;
            body.u32(0x04034b50).u16(zip64 ? 45 : 20).u16(flags).u16(method).u16(0).u16(0x21).u32(crc.getValue())
                    .u32(small).u32(small).u16(n.length).u16(zip64 ? 20 : 7).bytes(n);
            if (zip64) body.u16(1).u16(16).u64(declared).u64(declared); else body.u16(0xCAFE).u16(3).bytes(new byte[3]);
            body.bytes(data);
            central.u32(0x02014b50).u16(zip64 ? 45 : 20).u16(zip64 ? 45 : 20).u16(flags).u16(method).u16(0).u16(0x21)
                    .u32(crc.getValue()).u32(small).u32(small).u16(n.length).u16(zip64 ? 28 : 0).u16(0).u16(0).u16(0).u32(0)
                    .u32(zip64 ? 0xFFFFFFFFL : offset).bytes(n);
            if (zip64) central.u16(1).u16(24).u64(declared).u64(declared).u64(offset);
            count++;
            return this;
        }

        byte[] finish(String comment) {
            byte[] c = comment.getBytes(StandardCharsets.UTF_8);
            long cdOffset = body.size(), cdSize = central.size();
            body.bytes(central.toByteArray());
            if (zip64) {
                long record = body.size();
                body.u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(count).u64(count).u64(cdSize).u64(cdOffset);
                body.u32(0x07064b50).u32(0).u64(record).u32(1);
                body.u32(0x06054b50).u16(0).u16(0).u16(0xFFFF).u16(0xFFFF).u32(0xFFFFFFFFL).u32(0xFFFFFFFFL);
            } else {
                body.u32(0x06054b50).u16(0).u16(0).u16(count).u16(count).u32(cdSize).u32(cdOffset);
            }
            return body.u16(c.length).bytes(c).toByteArray();
        }
    }

    /** Little-endian byte output. */
    private static final class Le extends ByteArrayOutputStream {
        Le u16(int v) {
            write(v);
            write(v >>> 8);
            return this;
        }

        Le u32(long v) {
            return u16((int) v & 0xFFFF).u16((int) (v >>> 16) & 0xFFFF);
        }

        Le u64(long v) {
            return u32(v & 0xFFFFFFFFL).u32(v >>> 32);
        }

        Le bytes(byte[] b) {
            write(b, 0, b.length);
            return this;
        }
    }
}
