package org.sparsesteer.kernels;

import org.bytedeco.pytorch.Tensor;

/**
 * Top-k result: {@code values} float32 and {@code indices} int64, of shape [n, k] (rows) or [k] (a vector),
 * by value (or |value|) descending, ties by lower index. Owns both tensors.
 */
public record TopK(Tensor values, Tensor indices) implements AutoCloseable {
    @Override
    public void close() {
        values.close();
        indices.close();
    }
}
