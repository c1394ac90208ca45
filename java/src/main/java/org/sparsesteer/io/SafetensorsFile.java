package org.sparsesteer.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.tensor.Tensors;

/**
 * A safetensors file, read without copying it into the Java heap: the header is validated strictly
 * on open, and tensor data is memory-mapped region by region when a tensor is loaded.
 *
 * <p>Format: an 8-byte little-endian header length N, N bytes of JSON ({name: {dtype, shape,
 * data_offsets: [begin, end]}, "__metadata__": {string: string}}), then the data section, which the
 * tensors must cover exactly (no overlaps, no holes), as the reference implementation requires.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** Headers larger than this are refused (the reference implementation uses 100 MB). */
    public static final long MAX_HEADER_BYTES = 100L << 20;
    /** Tensors are converted in chunks of at most this many bytes of mapped file. */
    private static final long CHUNK_BYTES = 256L << 20;

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart,
                            Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafetensorsFile open(Path path) {
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new SafetensorsException(path + ": cannot open: " + e.getMessage(), e);
        }
        try {
            return parse(path, ch);
        } catch (RuntimeException e) {
            Mapped.closeQuietly(ch);
            throw e;
        } catch (IOException e) {
            Mapped.closeQuietly(ch);
            throw new SafetensorsException(path + ": read failed: " + e.getMessage(), e);
        }
    }

    private static SafetensorsFile parse(Path path, FileChannel ch) throws IOException {
        long fileSize = ch.size();
        if (fileSize < 8) throw new SafetensorsException(path + ": truncated: " + fileSize + " bytes, no 8-byte header length");
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        Mapped.readFully(ch, len, 0);
        long n = len.getLong(0);
        if (n < 2 || n > MAX_HEADER_BYTES) {
            throw new SafetensorsException(path + ": header length " + Long.toUnsignedString(n)
                    + " is outside [2, " + MAX_HEADER_BYTES + "] bytes");
        }
        if (8 + n > fileSize) {
            throw new SafetensorsException(path + ": truncated: header claims " + n + " bytes but the file has " + fileSize);
        }
        ByteBuffer hb = ByteBuffer.allocate((int) n);
        Mapped.readFully(ch, hb, 8);
        String headerText = new String(hb.array(), StandardCharsets.UTF_8);
        JsonNode root;
        try {
            root = JSON.readTree(headerText);
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(path + ": header is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) throw new SafetensorsException(path + ": header is not a JSON object");
        long dataStart = 8 + n;
        long dataSize = fileSize - dataStart;

        Map<String, String> meta = new LinkedHashMap<>();
        Map<String, TensorInfo> infos = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw new SafetensorsException(path + ": __metadata__ is not an object");
                v.fields().forEachRemaining(m -> {
                    if (!m.getValue().isTextual()) {
                        throw new SafetensorsException(path + ": __metadata__." + m.getKey() + " is not a string");
                    }
                    meta.put(m.getKey(), m.getValue().asText());
                });
                continue;
            }
            infos.put(name, parseEntry(path, name, v, dataSize));
        }
        checkCoverage(path, infos, dataSize);
        return new SafetensorsFile(path, ch, dataStart, Collections.unmodifiableMap(infos), Collections.unmodifiableMap(meta));
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode v, long dataSize) {
        String where = path + ": tensor '" + name + "'";
        if (!v.isObject()) throw new SafetensorsException(where + ": entry is not an object");
        JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
        if (dt == null || !dt.isTextual()) throw new SafetensorsException(where + ": missing dtype");
        if (sh == null || !sh.isArray()) throw new SafetensorsException(where + ": missing shape");
        if (off == null || !off.isArray() || off.size() != 2) throw new SafetensorsException(where + ": data_offsets must be [begin, end]");
        DType dtype = DType.parse(dt.asText());
        if (dtype == null) {
            throw new SafetensorsException(where + ": dtype " + dt.asText() + " is not one SparseSteer reads "
                    + "(F32, BF16, F16, F64, I64, I32, I16, I8, U8, BOOL)");
        }
        long[] shape = new long[sh.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                throw new SafetensorsException(where + ": shape entry " + i + " is not a non-negative integer");
            }
            shape[i] = d.asLong();
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException ex) {
                throw new SafetensorsException(where + ": shape overflows");
            }
        }
        JsonNode b = off.get(0), en = off.get(1);
        if (!b.isIntegralNumber() || !en.isIntegralNumber() || !b.canConvertToLong() || !en.canConvertToLong()) {
            throw new SafetensorsException(where + ": data_offsets are not integers");
        }
        long begin = b.asLong(), end = en.asLong();
        if (begin < 0 || end < begin) throw new SafetensorsException(where + ": data_offsets [" + begin + ", " + end + "] are not a range");
        if (end > dataSize) {
            throw new SafetensorsException(where + ": data_offsets end " + end + " lies past the data section ("
                    + dataSize + " bytes): file truncated or header wrong");
        }
        long expected;
        try {
            expected = Math.multiplyExact(numel, dtype.bytes);
        } catch (ArithmeticException ex) {
            throw new SafetensorsException(where + ": size overflows");
        }
        if (end - begin != expected) {
            throw new SafetensorsException(where + ": data_offsets span " + (end - begin) + " bytes but shape "
                    + java.util.Arrays.toString(shape) + " x " + dtype + " needs " + expected);
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static void checkCoverage(Path path, Map<String, TensorInfo> infos, long dataSize) {
        List<TensorInfo> sorted = new ArrayList<>(infos.values());
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long cursor = 0;
        TensorInfo prev = null;
        for (TensorInfo t : sorted) {
            if (t.begin() < cursor) {
                throw new SafetensorsException(path + ": tensors '" + prev.name() + "' and '" + t.name() + "' overlap");
            }
            if (t.begin() > cursor) {
                throw new SafetensorsException(path + ": bytes [" + cursor + ", " + t.begin() + ") of the data section belong to no tensor (before '" + t.name() + "')");
            }
            cursor = t.end();
            prev = t;
        }
        if (cursor != dataSize) {
            throw new SafetensorsException(path + ": data section has " + dataSize + " bytes but the tensors cover " + cursor);
        }
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new SafetensorsException(path + ": no tensor '" + name + "'");
        return t;
    }

    /** Loads a tensor as an owned CPU tensor of its stored dtype. */
    public Tensor load(String name) {
        return load(name, info(name).dtype().scalarType);
    }

    /**
     * Loads a tensor into a new CPU tensor of type {@code as}, converting chunk by chunk from the
     * mapped file, so that at most one chunk of the file is mapped at any time.
     */
    public Tensor load(String name, ScalarType as) {
        TensorInfo t = info(name);
        Tensor out = Tensors.empty(as, t.shape());
        if (t.numel() == 0) return out;
        long elemsPerChunk = Math.max(1, CHUNK_BYTES / t.dtype().bytes);
        try (PointerScope scope = new PointerScope()) {
            Tensor flat = out.view(-1);
            for (long first = 0; first < t.numel(); first += elemsPerChunk) {
                long count = Math.min(elemsPerChunk, t.numel() - first);
                try (Mapped m = Mapped.map(channel, dataStart + t.begin() + first * t.dtype().bytes, count * t.dtype().bytes)) {
                    try (Tensor src = torch.from_blob(new Pointer(m.buffer), new long[] {count}, new TensorOptions(t.dtype().scalarType));
                         Tensor part = flat.narrow(0, first, count)) {
                        part.copy_(src);
                    }
                }
            }
        } catch (IOException e) {
            out.close();
            throw new SafetensorsException(path + ": tensor '" + name + "': read failed: " + e.getMessage(), e);
        }
        return out;
    }

    /** Loads a tensor onto a device in a dtype (via host memory one tensor at a time). */
    public Tensor load(String name, ScalarType as, Device device) {
        if (!device.is_cuda()) return load(name, as);
        try (Tensor host = load(name, as)) {
            return host.to(device, as);
        }
    }

    /** Small tensors as Java arrays, converted to float (for tests, metadata and SAE parameters). */
    public float[] readFloats(String name) {
        try (Tensor t = load(name, ScalarType.Float)) {
            return Tensors.toFloats(t);
        }
    }

    public long[] readLongs(String name) {
        try (Tensor t = load(name, ScalarType.Long)) {
            return Tensors.toLongs(t);
        }
    }

    @Override
    public void close() {
        Mapped.closeQuietly(channel);
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + tensors.size() + " tensors]";
    }
}
