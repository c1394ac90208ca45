package org.sparsesteer.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;
import org.sparsesteer.tensor.Tensors;

/**
 * Writes a safetensors file. Each tensor added is held as a contiguous host tensor (native memory,
 * not the Java heap) and streamed to disk; the file is written to a temporary sibling and renamed
 * into place, so a failed write leaves nothing half-done. Close the writer if {@link #write} is not
 * called.
 */
public final class SafetensorsWriter implements AutoCloseable {
    private static final long CHUNK = 64L << 20;

    private record Entry(String name, DType dtype, long[] shape, Tensor data) {}

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Adds a copy of a tensor (any device, any strides); its dtype is kept. */
    public SafetensorsWriter add(String name, Tensor t) {
        DType dtype = DType.of(t.scalar_type());
        Tensor c;
        try (Tensor cpu = t.cpu()) {
            c = cpu.contiguous().clone();
        }
        return put(name, dtype, Tensors.shape(t), c);
    }

    public SafetensorsWriter addFloats(String name, float[] values, long... shape) {
        return put(name, DType.F32, shape, Tensors.fromFloats(values, shape));
    }

    public SafetensorsWriter addLongs(String name, long[] values, long... shape) {
        return put(name, DType.I64, shape, Tensors.fromLongs(values, shape));
    }

    private SafetensorsWriter put(String name, DType dtype, long[] shape, Tensor data) {
        String problem = null;
        if (name.equals("__metadata__")) problem = "'__metadata__' is not a tensor name";
        for (Entry e : entries) if (e.name.equals(name)) problem = "tensor '" + name + "' added twice";
        if (problem != null) {
            data.close();
            throw new IllegalArgumentException(problem);
        }
        entries.add(new Entry(name, dtype, shape.clone(), Tensors.keep(data)));
        return this;
    }

    /** Writes the file atomically (temporary file in the same folder, then rename) and releases the tensors. */
    public void write(Path target) throws IOException {
        try {
            writeFile(target);
        } finally {
            close();
        }
    }

    private void writeFile(Path target) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            long bytes = e.data.numel() * e.dtype.bytes;
            ObjectNode o = header.putObject(e.name);
            o.put("dtype", e.dtype.name());
            ArrayNode s = o.putArray("shape");
            for (long d : e.shape) s.add(d);
            ArrayNode off = o.putArray("data_offsets");
            off.add(offset);
            off.add(offset + bytes);
            offset += bytes;
        }
        byte[] h = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8; // keeps the data section 8-byte aligned
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(h);
        while (head.position() < head.capacity()) head.put((byte) ' ');
        head.flip();

        AtomicFiles.write(target, tmp -> {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                while (head.hasRemaining()) ch.write(head);
                for (Entry e : entries) {
                    long bytes = e.data.numel() * e.dtype.bytes;
                    if (bytes == 0) continue;
                    try (BytePointer p = new BytePointer(e.data.data_ptr())) {
                        for (long first = 0; first < bytes; first += CHUNK) {
                            long n = Math.min(CHUNK, bytes - first);
                            ByteBuffer b = p.position(first).limit(first + n).asByteBuffer();
                            while (b.hasRemaining()) ch.write(b);
                        }
                    }
                }
                ch.force(false);
            }
        });
    }

    @Override
    public void close() {
        for (Entry e : entries) e.data.close();
        entries.clear();
    }
}
