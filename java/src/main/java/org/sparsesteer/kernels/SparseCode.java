package org.sparsesteer.kernels;

import org.bytedeco.pytorch.Tensor;

/**
 * A sparse SAE code per row: {@code indices} int64 [n, maxNnz] (ascending feature index, -1 in unused slots),
 * {@code values} float32 [n, maxNnz] (0 in unused slots) and {@code counts} int32 [n], the number of active
 * features of each row (never more than maxNnz: {@link SasKernels#encodeSparse} retries with a wider buffer).
 * Owns the three tensors.
 */
public record SparseCode(Tensor indices, Tensor values, Tensor counts) implements AutoCloseable {
    /** The buffer width (the second dimension of indices and values). */
    public long maxNnz() {
        return indices.size(1);
    }

    @Override
    public void close() {
        indices.close();
        values.close();
        counts.close();
    }
}
