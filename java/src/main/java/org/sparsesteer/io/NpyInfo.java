package org.sparsesteer.io;

import java.util.Arrays;

/**
 * One array of an .npz archive: its element type and shape from the .npy header, and where its
 * {@code byteSize} bytes of data start in the archive file ({@code dataOffset} is absolute).
 * {@code fortranOrder} arrays are stored column-major: their bytes are the row-major bytes of the
 * transpose; {@link NpzFile#load} transposes them back, so callers always get the declared shape.
 */
public record NpyInfo(String name, DType dtype, long[] shape, long dataOffset, long byteSize, boolean fortranOrder) {
    public long numel() {
        long n = 1;
        for (long s : shape) n = Math.multiplyExact(n, s);
        return n;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public String toString() {
        return "NpyInfo[" + name + ", " + dtype + " " + shapeString() + (fortranOrder ? " fortran order" : "")
                + ", " + byteSize + " bytes at " + dataOffset + "]";
    }
}
