package org.sparsesteer.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.tensor.Tensors;

/**
 * A NumPy .npz archive (what {@code np.savez} writes, e.g. Gemma Scope's {@code params.npz}), read
 * without copying it into the Java heap: on open we read only the zip directory and each member's
 * .npy header; array data is memory-mapped chunk by chunk when an array is loaded.
 *
 * <p>We read the zip structure ourselves instead of using {@link java.util.zip.ZipFile}: we need
 * the absolute file offset of each member's data in order to map it, and nothing else. Members
 * must therefore be STORED (uncompressed). CRCs are not checked: that would mean reading every
 * byte of a file that may be 19 GB, and the size checks below already catch truncation.
 *
 * <p>An .npz is a zip of {@code <name>.npy} members; each is the 6-byte magic {@code \x93NUMPY},
 * a version, a header length, a Python dict literal such as
 * {@code {'descr': '<f4', 'fortran_order': False, 'shape': (2304, 16384), }}, and the raw data.
 * Members whose names do not end in {@code .npy} are ignored. Fortran-order arrays are supported:
 * they are transposed while they are copied, so {@link #load} always returns the declared shape.
 */
public final class NpzFile implements AutoCloseable {
    /** Arrays are converted in chunks of at most this many bytes of mapped file. */
    private static final long CHUNK_BYTES = 256L << 20;
    /** Central directories larger than this are refused (an .npz has a handful of members). */
    private static final long MAX_DIRECTORY_BYTES = 64L << 20;
    /** .npy headers larger than this are refused (numpy's own limit is 10000 characters). */
    private static final int MAX_NPY_HEADER_BYTES = 1 << 20;

    private static final int LOCAL_SIG = 0x04034b50;
    private static final int CENTRAL_SIG = 0x02014b50;
    private static final int EOCD_SIG = 0x06054b50;
    private static final int ZIP64_EOCD_SIG = 0x06064b50;
    private static final int ZIP64_LOCATOR_SIG = 0x07064b50;
    private static final long U32_MAX = 0xFFFFFFFFL;
    private static final int U16_MAX = 0xFFFF;
    private static final byte[] NPY_MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};

    private final Path path;
    private final FileChannel channel;
    private final Map<String, NpyInfo> arrays;

    private NpzFile(Path path, FileChannel channel, Map<String, NpyInfo> arrays) {
        this.path = path;
        this.channel = channel;
        this.arrays = arrays;
    }

    public static NpzFile open(Path path) {
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new NpzException(path + ": cannot open: " + e.getMessage(), e);
        }
        try {
            return new NpzFile(path, ch, Collections.unmodifiableMap(readArrays(path, ch)));
        } catch (RuntimeException e) {
            Mapped.closeQuietly(ch);
            throw e;
        } catch (IOException e) {
            Mapped.closeQuietly(ch);
            throw new NpzException(path + ": read failed: " + e.getMessage(), e);
        }
    }

    /** A central directory entry, with ZIP64 values already substituted. */
    private record Member(String name, int flags, int method, long compressedSize, long size, long localOffset) {}

    /** Where the central directory is, from the end of central directory record(s). */
    private record Directory(long offset, long size, long entries, long end) {}

    private static Map<String, NpyInfo> readArrays(Path path, FileChannel ch) throws IOException {
        long fileSize = ch.size();
        Directory dir = findDirectory(path, ch, fileSize);
        ByteBuffer cd = read(ch, dir.offset(), (int) dir.size());
        Map<String, NpyInfo> arrays = new LinkedHashMap<>();
        int p = 0;
        for (long i = 0; i < dir.entries(); i++) {
            Member m = centralEntry(path, cd, p, i);
            p += 46 + u16(cd, p + 28) + u16(cd, p + 30) + u16(cd, p + 32);
            if (!m.name().endsWith(".npy")) continue;
            String name = m.name().substring(0, m.name().length() - 4);
            String where = path + ": array '" + name + "'";
            if (arrays.containsKey(name)) throw new NpzException(where + ": appears twice in the archive");
            arrays.put(name, member(where, name, ch, fileSize, m));
        }
        return arrays;
    }

    /**
     * Finds the end of central directory record by scanning back from the end of the file (it is
     * followed by a comment of up to 65535 bytes), then follows the ZIP64 locator if there is one.
     */
    private static Directory findDirectory(Path path, FileChannel ch, long fileSize) throws IOException {
        String notZip = path + ": not a zip archive (no end of central directory record): truncated, or not an .npz file";
        if (fileSize < 22) throw new NpzException(notZip + " (" + fileSize + " bytes)");
        int tailLen = (int) Math.min(fileSize, 22 + U16_MAX);
        long tailStart = fileSize - tailLen;
        ByteBuffer tail = read(ch, tailStart, tailLen);
        int e = tailLen - 22;
        // The comment length must reach exactly to the end of the file, so that a signature that
        // happens to occur inside the comment or the data is not taken for the record.
        while (e >= 0 && !(tail.getInt(e) == EOCD_SIG && e + 22 + u16(tail, e + 20) == tailLen)) e--;
        if (e < 0) throw new NpzException(notZip);
        long eocdPos = tailStart + e;
        long disk = u16(tail, e + 4), cdDisk = u16(tail, e + 6);
        long diskEntries = u16(tail, e + 8), entries = u16(tail, e + 10);
        long cdSize = u32(tail, e + 12), cdOffset = u32(tail, e + 16);
        long end = eocdPos;

        // As in Python's zipfile, a ZIP64 locator just before the record makes the ZIP64 record
        // authoritative; without one, saturated fields mean the archive lost its ZIP64 record.
        boolean saturated = disk == U16_MAX || cdDisk == U16_MAX || diskEntries == U16_MAX || entries == U16_MAX
                || cdSize == U32_MAX || cdOffset == U32_MAX;
        ByteBuffer loc = eocdPos >= 20 ? read(ch, eocdPos - 20, 20) : null;
        if (loc != null && loc.getInt(0) == ZIP64_LOCATOR_SIG) {
            long recDisk = u32(loc, 4), recPos = loc.getLong(8), disks = u32(loc, 16);
            if (recDisk != 0 || disks > 1) throw new NpzException(path + ": multi-disk (split or spanned) zip archives are not supported");
            if (recPos < 0 || recPos > eocdPos - 20 - 56) {
                throw new NpzException(path + ": ZIP64 locator points to offset " + recPos + ", outside the file: truncated or corrupt");
            }
            ByteBuffer rec = read(ch, recPos, 56);
            if (rec.getInt(0) != ZIP64_EOCD_SIG) throw new NpzException(path + ": no ZIP64 end of central directory record at offset " + recPos);
            disk = u32(rec, 16);
            cdDisk = u32(rec, 20);
            diskEntries = rec.getLong(24);
            entries = rec.getLong(32);
            cdSize = rec.getLong(40);
            cdOffset = rec.getLong(48);
            end = recPos;
        } else if (saturated) {
            throw new NpzException(path + ": end of central directory record has ZIP64 placeholders but no ZIP64 locator: corrupt archive");
        }
        if (disk != 0 || cdDisk != 0 || diskEntries != entries) {
            throw new NpzException(path + ": multi-disk (split or spanned) zip archives are not supported");
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset > end || cdSize > end - cdOffset) {
            throw new NpzException(path + ": central directory [" + cdOffset + ", +" + cdSize + ") lies outside the file: truncated or corrupt");
        }
        if (cdSize > MAX_DIRECTORY_BYTES) throw new NpzException(path + ": central directory of " + cdSize + " bytes is too large");
        if (entries < 0 || entries > cdSize / 46) {
            throw new NpzException(path + ": " + entries + " entries cannot fit in a central directory of " + cdSize + " bytes");
        }
        return new Directory(cdOffset, cdSize, entries, end);
    }

    /** Parses central directory entry number {@code index} at {@code p}, applying its ZIP64 extra field. */
    private static Member centralEntry(Path path, ByteBuffer cd, int p, long index) {
        String where = path + ": central directory entry " + index;
        if (p + 46 > cd.limit() || cd.getInt(p) != CENTRAL_SIG) throw new NpzException(where + ": missing or corrupt");
        int flags = u16(cd, p + 8), method = u16(cd, p + 10);
        long compressed = u32(cd, p + 20), size = u32(cd, p + 24);
        int nameLen = u16(cd, p + 28), extraLen = u16(cd, p + 30), commentLen = u16(cd, p + 32);
        long diskStart = u16(cd, p + 34), local = u32(cd, p + 42);
        if (p + 46 + nameLen + extraLen + commentLen > cd.limit()) throw new NpzException(where + ": runs past the central directory");
        String name = text(cd, p + 46, nameLen, flags);
        where = path + ": member '" + name + "'";
        // The ZIP64 extended information field (id 1) holds 8-byte values for exactly those of
        // uncompressed size, compressed size, local header offset (and a 4-byte disk number), in
        // that order, whose classic field is saturated.
        for (int x = p + 46 + nameLen, xEnd = x + extraLen; x + 4 <= xEnd; ) {
            int id = u16(cd, x), len = u16(cd, x + 2);
            int q = x + 4, qEnd = q + len;
            if (qEnd > xEnd) throw new NpzException(where + ": extra field runs past its entry");
            if (id == 0x0001) {
                if (size == U32_MAX) { need(where, q + 8 <= qEnd); size = cd.getLong(q); q += 8; }
                if (compressed == U32_MAX) { need(where, q + 8 <= qEnd); compressed = cd.getLong(q); q += 8; }
                if (local == U32_MAX) { need(where, q + 8 <= qEnd); local = cd.getLong(q); q += 8; }
                if (diskStart == U16_MAX) { need(where, q + 4 <= qEnd); diskStart = u32(cd, q); }
            }
            x = qEnd;
        }
        if (diskStart != 0) throw new NpzException(where + ": lies on disk " + diskStart + ": multi-disk zip archives are not supported");
        if (size < 0 || compressed < 0 || local < 0) throw new NpzException(where + ": sizes or offset out of range");
        return new Member(name, flags, method, compressed, size, local);
    }

    private static void need(String where, boolean ok) {
        if (!ok) throw new NpzException(where + ": ZIP64 extra field is too short for the values its entry defers to it");
    }

    /** Locates a member's data and reads its .npy header. */
    private static NpyInfo member(String where, String name, FileChannel ch, long fileSize, Member m) throws IOException {
        if ((m.flags() & 0x41) != 0) throw new NpzException(where + ": member is encrypted");
        if (m.method() == 8) {
            throw new NpzException(where + ": member is compressed (DEFLATED, as np.savez_compressed writes), so it cannot be "
                    + "memory-mapped: re-save the arrays with np.savez (uncompressed)");
        }
        if (m.method() != 0) throw new NpzException(where + ": member uses zip compression method " + m.method() + "; only STORED (0) can be memory-mapped");
        if (m.compressedSize() != m.size()) {
            throw new NpzException(where + ": STORED member has compressed size " + m.compressedSize() + " but size " + m.size());
        }
        // The data follows the local header, whose name and extra field lengths may differ from the
        // central directory's (Python writes the ZIP64 extra field only locally for small members;
        // other writers pad the local extra for alignment), so the local header must be re-read.
        if (m.localOffset() > fileSize - 30) throw new NpzException(where + ": local header lies past the end of the file: truncated");
        ByteBuffer lh = read(ch, m.localOffset(), 30);
        if (lh.getInt(0) != LOCAL_SIG) throw new NpzException(where + ": no local file header at offset " + m.localOffset());
        long start = m.localOffset() + 30 + u16(lh, 26) + u16(lh, 28);
        if (start > fileSize || m.size() > fileSize - start) {
            throw new NpzException(where + ": data [" + start + ", +" + m.size() + ") runs past the end of the file ("
                    + fileSize + " bytes): truncated");
        }
        return npyHeader(where, name, ch, start, m.size());
    }

    /** Parses the .npy header of a member whose {@code size} bytes start at {@code start}. */
    private static NpyInfo npyHeader(String where, String name, FileChannel ch, long start, long size) throws IOException {
        if (size < 10) throw new NpzException(where + ": member of " + size + " bytes is too short for an .npy header");
        ByteBuffer pre = read(ch, start, (int) Math.min(size, 12));
        for (int i = 0; i < NPY_MAGIC.length; i++) {
            if (pre.get(i) != NPY_MAGIC[i]) throw new NpzException(where + ": member is not an .npy array (bad magic)");
        }
        int major = pre.get(6) & 0xFF, minor = pre.get(7) & 0xFF;
        long headerLen;
        int lenBytes;
        if (major == 1 && minor == 0) {
            headerLen = u16(pre, 8);
            lenBytes = 2;
        } else if ((major == 2 || major == 3) && minor == 0 && size >= 12) {
            headerLen = u32(pre, 8);
            lenBytes = 4;
        } else {
            throw new NpzException(where + ": .npy format version " + major + "." + minor + " is not supported (1.0, 2.0, 3.0)");
        }
        long dataStart = 8 + lenBytes + headerLen;
        if (headerLen > MAX_NPY_HEADER_BYTES || dataStart > size) {
            throw new NpzException(where + ": .npy header length " + headerLen + " does not fit the member's " + size + " bytes");
        }
        ByteBuffer hb = read(ch, start + 8 + lenBytes, (int) headerLen);
        // Versions 1 and 2 are latin-1; version 3 allows UTF-8 (for structured field names).
        String header = new String(hb.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Map<String, Object> dict = new DictParser(where, header).parse();
        if (!dict.keySet().equals(java.util.Set.of("descr", "fortran_order", "shape"))) {
            throw new NpzException(where + ": .npy header keys " + dict.keySet() + " are not {descr, fortran_order, shape}");
        }
        if (!(dict.get("descr") instanceof String descr)) throw new NpzException(where + ": .npy descr is not a string: " + header.strip());
        if (!(dict.get("fortran_order") instanceof Boolean fortran)) throw new NpzException(where + ": .npy fortran_order is not True or False");
        if (!(dict.get("shape") instanceof long[] shape)) throw new NpzException(where + ": .npy shape is not a tuple of integers");
        DType dtype = dtypeOf(descr);
        if (dtype == null) {
            throw new NpzException(where + ": dtype descr '" + descr + "' is not one SparseSteer reads (<f4, <f2, <f8, <i8, <i4, <i2, "
                    + "|i1, |u1, |b1; big-endian '>' arrays must be re-saved little-endian)");
        }
        long bytes;
        try {
            bytes = dtype.bytes;
            for (long s : shape) bytes = Math.multiplyExact(bytes, s);
        } catch (ArithmeticException e) {
            throw new NpzException(where + ": shape " + Arrays.toString(shape) + " overflows");
        }
        if (size - dataStart != bytes) {
            throw new NpzException(where + ": member holds " + (size - dataStart) + " bytes of data after its .npy header but shape "
                    + Arrays.toString(shape) + " x '" + descr + "' needs " + bytes);
        }
        return new NpyInfo(name, dtype, shape, start + dataStart, bytes, fortran);
    }

    private static DType dtypeOf(String descr) {
        return switch (descr) {
            case "<f4" -> DType.F32;
            case "<f2" -> DType.F16;
            case "<f8" -> DType.F64;
            case "<i8" -> DType.I64;
            case "<i4" -> DType.I32;
            case "<i2" -> DType.I16;
            case "|i1" -> DType.I8;
            case "|u1" -> DType.U8;
            case "|b1" -> DType.BOOL;
            default -> null;
        };
    }

    /**
     * The subset of Python literal syntax numpy writes in .npy headers: a dict of string keys whose
     * values are strings, True/False, or tuples of integers. Anything else (such as the list descr
     * of a structured dtype) is refused.
     */
    private static final class DictParser {
        private final String where;
        private final String s;
        private int i;

        DictParser(String where, String s) {
            this.where = where;
            this.s = s;
        }

        Map<String, Object> parse() {
            Map<String, Object> out = new LinkedHashMap<>();
            expect('{');
            while (peek() != '}') {
                String key = string();
                expect(':');
                if (out.put(key, value()) != null) throw fail("key '" + key + "' repeated");
                if (peek() != '}') expect(',');
            }
            expect('}');
            if (!s.substring(i).isBlank()) throw fail("text after the dict");
            return out;
        }

        private Object value() {
            char c = peek();
            if (c == '\'' || c == '"') return string();
            if (c == '(') return tuple();
            if (s.startsWith("True", i)) { i += 4; return Boolean.TRUE; }
            if (s.startsWith("False", i)) { i += 5; return Boolean.FALSE; }
            if (c == '[') throw fail("structured dtypes (a list descr) are not supported");
            throw fail("unexpected '" + c + "'");
        }

        private long[] tuple() {
            expect('(');
            List<Long> dims = new ArrayList<>();
            while (peek() != ')') {
                int from = i;
                while (i < s.length() && Character.isDigit(s.charAt(i))) i++;
                if (from == i) throw fail("shape entries must be non-negative integers");
                try {
                    dims.add(Long.parseLong(s.substring(from, i)));
                } catch (NumberFormatException e) {
                    throw fail("shape entry too large");
                }
                if (i < s.length() && s.charAt(i) == 'L') i++; // Python 2 long literals
                if (peek() != ')') expect(',');
            }
            expect(')');
            return dims.stream().mapToLong(Long::longValue).toArray();
        }

        private String string() {
            char q = peek();
            if (q != '\'' && q != '"') throw fail("expected a string");
            int end = s.indexOf(q, i + 1);
            if (end < 0) throw fail("unterminated string");
            String v = s.substring(i + 1, end);
            if (v.indexOf('\\') >= 0) throw fail("escapes in strings are not supported");
            i = end + 1;
            return v;
        }

        private void expect(char c) {
            if (peek() != c) throw fail("expected '" + c + "'");
            i++;
        }

        /** Skips whitespace and returns the next character (0 at the end). */
        private char peek() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
            return i < s.length() ? s.charAt(i) : 0;
        }

        private NpzException fail(String why) {
            return new NpzException(where + ": cannot parse .npy header (" + why + " at character " + i + "): " + s.strip());
        }
    }

    public Path path() {
        return path;
    }

    /** The arrays, keyed by member name without ".npy", in central directory order. */
    public Map<String, NpyInfo> arrays() {
        return arrays;
    }

    public boolean contains(String name) {
        return arrays.containsKey(name);
    }

    public NpyInfo info(String name) {
        NpyInfo a = arrays.get(name);
        if (a == null) throw new NpzException(path + ": no array '" + name + "' (the archive has " + arrays.keySet() + ")");
        return a;
    }

    /**
     * Loads an array into a new owned CPU tensor of type {@code as} and its declared shape,
     * converting chunk by chunk from the mapped file, so that at most one chunk is mapped at a time.
     */
    public Tensor load(String name, ScalarType as) {
        return load(name, as, CHUNK_BYTES);
    }

    /** {@link #load(String, ScalarType)} with a chosen chunk size (tests use tiny ones). */
    Tensor load(String name, ScalarType as, long chunkBytes) {
        NpyInfo a = info(name);
        Tensor out = Tensors.empty(as, a.shape());
        if (a.byteSize() == 0) return out;
        try (PointerScope scope = new PointerScope()) {
            Tensor dst = out;
            if (a.fortranOrder()) {
                // Column-major bytes of shape (d0..dn) are the row-major bytes of shape (dn..d0):
                // fill the output through its reversed-dims view, which transposes while copying.
                long[] dims = new long[a.shape().length];
                for (int d = 0; d < dims.length; d++) dims[d] = dims.length - 1 - d;
                dst = out.permute(dims);
            }
            copy(dst, a.dataOffset(), a.dtype(), chunkBytes);
        } catch (IOException | RuntimeException e) {
            out.close();
            throw new NpzException(path + ": array '" + name + "': read failed: " + e.getMessage(), e);
        }
        return out;
    }

    /**
     * Copies the row-major file data at {@code offset} into {@code dst}, a range of whole rows
     * (slices along dimension 0) at a time; rows larger than a chunk are split recursively.
     */
    private void copy(Tensor dst, long offset, DType dtype, long chunkBytes) throws IOException {
        long bytes = dst.numel() * dtype.bytes;
        if (bytes <= chunkBytes || dst.dim() == 0) {
            try (Mapped m = Mapped.map(channel, offset, bytes);
                 Pointer p = new Pointer(m.buffer);
                 TensorOptions o = new TensorOptions(dtype.scalarType);
                 Tensor src = torch.from_blob(p, Tensors.shape(dst), o)) {
                dst.copy_(src);
            }
            return;
        }
        long rows = dst.size(0), rowBytes = bytes / rows;
        long perChunk = Math.max(1, chunkBytes / rowBytes);
        for (long r = 0; r < rows; r += perChunk) {
            long n = Math.min(perChunk, rows - r);
            try (Tensor part = dst.narrow(0, r, n)) {
                if (n == 1 && rowBytes > chunkBytes) {
                    try (Tensor row = part.select(0, 0)) {
                        copy(row, offset + r * rowBytes, dtype, chunkBytes);
                    }
                } else {
                    copy(part, offset + r * rowBytes, dtype, chunkBytes);
                }
            }
        }
    }

    /** Small arrays as Java arrays, converted to float (for tests). */
    public float[] readFloats(String name) {
        try (Tensor t = load(name, ScalarType.Float)) {
            return Tensors.toFloats(t);
        }
    }

    private static ByteBuffer read(FileChannel ch, long pos, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            int r = ch.read(b, pos + b.position());
            if (r < 0) throw new IOException("unexpected end of file at offset " + (pos + b.position()));
        }
        return b.clear();
    }

    private static int u16(ByteBuffer b, int i) {
        return b.getShort(i) & 0xFFFF;
    }

    private static long u32(ByteBuffer b, int i) {
        return b.getInt(i) & U32_MAX;
    }

    /** Zip names are UTF-8 when flag bit 11 is set, else CP437, which agrees with latin-1 on ASCII. */
    private static String text(ByteBuffer b, int at, int len, int flags) {
        byte[] bytes = new byte[len];
        b.get(at, bytes);
        return new String(bytes, (flags & 0x800) != 0 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
    }

    @Override
    public void close() {
        Mapped.closeQuietly(channel);
    }

    @Override
    public String toString() {
        return "NpzFile[" + path + ", " + arrays.size() + " arrays]";
    }
}
