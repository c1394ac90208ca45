package org.sparsesteer.io;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Read-only memory maps of file regions that are released as soon as we are done with them, so the
 * pages of a multi-gigabyte checkpoint do not stay in our resident set after they were converted.
 */
final class Mapped implements AutoCloseable {
    private static final sun.misc.Unsafe UNSAFE = unsafe();

    final MappedByteBuffer buffer;

    private Mapped(MappedByteBuffer buffer) {
        this.buffer = buffer;
    }

    static Mapped map(FileChannel channel, long offset, long size) throws IOException {
        if (size > Integer.MAX_VALUE) throw new IllegalArgumentException("map region too large: " + size);
        MappedByteBuffer b = channel.map(FileChannel.MapMode.READ_ONLY, offset, size);
        b.order(ByteOrder.LITTLE_ENDIAN);
        return new Mapped(b);
    }

    /** Unmaps now instead of waiting for the garbage collector. The buffer must not be used after. */
    @Override
    public void close() {
        if (UNSAFE != null) UNSAFE.invokeCleaner(buffer);
    }

    /** Reads exactly dst.remaining() bytes at pos, or throws at the end of the file. */
    static void readFully(FileChannel ch, java.nio.ByteBuffer dst, long pos) throws IOException {
        while (dst.hasRemaining()) {
            int r = ch.read(dst, pos);
            if (r < 0) throw new IOException("unexpected end of file");
            pos += r;
        }
    }

    static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to do: we are closing after a failure or for good
        }
    }

    private static sun.misc.Unsafe unsafe() {
        try {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (sun.misc.Unsafe) f.get(null);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null; // fall back to the GC unmapping the region
        }
    }
}
