package org.sparsesteer.model;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Keys and values of every layer for a batch, preallocated to a maximum length and written in place,
 * so a decode loop allocates nothing that outlives a step: [batch, kv_heads, maxLength, head_dim].
 */
public final class KvCache implements AutoCloseable {
    final Tensor[] keys;
    final Tensor[] values;
    private final int batch;
    private final int maxLength;
    private int length;

    public KvCache(Gemma2Config c, int batch, int maxLength, ScalarType dtype, Device device) {
        if (batch < 1) throw new IllegalArgumentException("KV cache batch must be >= 1, got " + batch);
        if (maxLength < 1) throw new IllegalArgumentException("KV cache length must be >= 1, got " + maxLength);
        this.batch = batch;
        this.maxLength = maxLength;
        keys = new Tensor[c.numLayers()];
        values = new Tensor[c.numLayers()];
        try (TensorOptions o = new TensorOptions(dtype).device(new org.bytedeco.pytorch.DeviceOptional(device))) {
            for (int l = 0; l < keys.length; l++) {
                keys[l] = torch.zeros(new long[] {batch, c.numKvHeads(), maxLength, c.headDim()}, o);
                values[l] = torch.zeros(new long[] {batch, c.numKvHeads(), maxLength, c.headDim()}, o);
            }
        }
    }

    public int batch() {
        return batch;
    }

    public int maxLength() {
        return maxLength;
    }

    /** Number of positions written so far. */
    public int length() {
        return length;
    }

    /** Forgets every position from {@code length} on (e.g. to branch a generation from a shared prompt). */
    public void rewind(int length) {
        if (length < 0 || length > this.length) throw new IllegalArgumentException("cannot rewind a cache of length " + this.length + " to " + length);
        this.length = length;
    }

    void advance(int t) {
        length += t;
    }

    @Override
    public void close() {
        for (Tensor t : keys) if (t != null) t.close();
        for (Tensor t : values) if (t != null) t.close();
    }
}
