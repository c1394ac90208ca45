package org.sparsesteer.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsesteer.tensor.Tensors;

class SafetensorsTest {
    @TempDir
    Path dir;

    /** Writes a raw safetensors file: header JSON then {@code dataBytes} bytes of data. */
    private Path raw(String name, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        for (int i = 0; i < dataBytes; i++) b.put((byte) i);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private void assertRejected(Path p, String... mustMention) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
        for (String m : mustMention) assertTrue(e.getMessage().contains(m), "message mentions '" + m + "': " + e.getMessage());
    }

    @Test
    void writesAndReadsBackEveryDtype() throws IOException {
        Path p = dir.resolve("t.safetensors");
        float[] f = {1.5f, -2.25f, 3f, 0.0009765625f, 0f, 7f};
        try (Tensor t = Tensors.fromFloats(f, 2, 3); Tensor bf = t.to(ScalarType.BFloat16); Tensor h = t.to(ScalarType.Half)) {
            new SafetensorsWriter().add("f32", t).add("bf16", bf).add("f16", h)
                    .addLongs("ids", new long[] {2, 17, 301}, 3).metadata("hook", "blocks.2.hook_resid_post").write(p);
        }
        try (SafetensorsFile s = SafetensorsFile.open(p)) {
            assertEquals(DType.BF16, s.info("bf16").dtype());
            assertArrayEquals(new long[] {2, 3}, s.info("f16").shape());
            assertArrayEquals(f, s.readFloats("f32"));
            assertArrayEquals(f, s.readFloats("bf16")); // all values are exact in bf16
            assertArrayEquals(f, s.readFloats("f16"));
            assertArrayEquals(new long[] {2, 17, 301}, s.readLongs("ids"));
            assertEquals("blocks.2.hook_resid_post", s.metadata().get("hook"));
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(p), files.toList(), "no temporary file left behind");
        }
    }

    @Test
    void emptyTensorsRoundTrip() throws IOException {
        // A steering vector can be empty (tau so high that no feature survives): it must still save and load.
        Path p = dir.resolve("empty.safetensors");
        new SafetensorsWriter().addLongs("indices", new long[0], 0).addFloats("values", new float[0], 0).write(p);
        try (SafetensorsFile s = SafetensorsFile.open(p)) {
            assertEquals(0, s.readLongs("indices").length);
            assertEquals(0, s.readFloats("values").length);
        }
    }

    @Test
    void truncatedFiles() throws IOException {
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        assertRejected(tiny, "truncated");
        Path shortHeader = dir.resolve("short.safetensors");
        ByteBuffer b = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        Files.write(shortHeader, b.array());
        assertRejected(shortHeader, "truncated");
        assertRejected(raw("data.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8), "'w'", "past the data section");
    }

    @Test
    void headersThatLie() throws IOException {
        assertRejected(raw("size.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16), "'w'", "needs 12");
        assertRejected(raw("overlap.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "overlap");
        assertRejected(raw("hole.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "belong to no tensor");
        assertRejected(raw("neg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8), "'a'");
        assertRejected(raw("json.safetensors", "{\"a\": [", 0), "JSON");
        ByteBuffer huge = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1L);
        Path h = dir.resolve("huge.safetensors");
        Files.write(h, huge.array());
        assertRejected(h, "header length");
    }

    @Test
    void unknownDtype() throws IOException {
        assertRejected(raw("f8.safetensors", "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4), "'w'", "F8_E4M3");
    }

    @Test
    void missingTensorNamesTheFileAndTensor() throws IOException {
        Path p = raw("ok.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
        try (SafetensorsFile s = SafetensorsFile.open(p)) {
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> s.info("nope"));
            assertTrue(e.getMessage().contains("'nope'") && e.getMessage().contains(p.toString()), e.getMessage());
        }
    }
}
