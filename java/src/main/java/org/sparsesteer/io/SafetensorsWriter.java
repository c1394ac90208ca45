package org.sparsesteer.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;
import org.sparsesteer.tensor.Tensors;

/**
 * Writes a safetensors file. Tensors are copied to host memory as they are added; the file is
 * written to a temporary sibling and renamed into place, so a failed write leaves nothing half-done.
 */
public final class SafetensorsWriter {
    private record Entry(String name, DType dtype, long[] shape, byte[] data) {}

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Adds a tensor (any device, any strides); its dtype is kept. */
    public SafetensorsWriter add(String name, Tensor t) {
        DType dtype = DType.of(t.scalar_type());
        try (Tensor c = t.cpu().contiguous()) {
            long bytes = c.numel() * dtype.bytes;
            if (bytes > Integer.MAX_VALUE - 64) throw new IllegalArgumentException(name + ": tensor too large for this writer");
            byte[] data = new byte[(int) bytes];
            if (bytes > 0) {
                try (BytePointer p = new BytePointer(c.data_ptr())) {
                    p.get(data);
                }
            }
            return put(name, dtype, Tensors.shape(c), data);
        }
    }

    public SafetensorsWriter addFloats(String name, float[] values, long... shape) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return put(name, DType.F32, shape, b.array());
    }

    public SafetensorsWriter addLongs(String name, long[] values, long... shape) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(values);
        return put(name, DType.I64, shape, b.array());
    }

    private SafetensorsWriter put(String name, DType dtype, long[] shape, byte[] data) {
        if (name.equals("__metadata__")) throw new IllegalArgumentException("'__metadata__' is not a tensor name");
        for (Entry e : entries) if (e.name.equals(name)) throw new IllegalArgumentException("tensor '" + name + "' added twice");
        long numel = 1;
        for (long s : shape) numel *= s;
        if (numel * dtype.bytes != data.length) throw new IllegalArgumentException(name + ": shape does not match data");
        entries.add(new Entry(name, dtype, shape.clone(), data));
        return this;
    }

    /** Writes the file atomically (temporary file in the same folder, then rename). */
    public void write(Path target) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode o = header.putObject(e.name);
            o.put("dtype", e.dtype.name());
            ArrayNode s = o.putArray("shape");
            for (long d : e.shape) s.add(d);
            ArrayNode off = o.putArray("data_offsets");
            off.add(offset);
            off.add(offset + e.data.length);
            offset += e.data.length;
        }
        byte[] h = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8; // keep the data section 8-byte aligned
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(h);
        while (head.position() < head.capacity()) head.put((byte) ' ');
        head.flip();

        Path dir = target.toAbsolutePath().getParent();
        if (dir != null) Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                while (head.hasRemaining()) ch.write(head);
                for (Entry e : entries) {
                    ByteBuffer b = ByteBuffer.wrap(e.data);
                    while (b.hasRemaining()) ch.write(b);
                }
            }
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
