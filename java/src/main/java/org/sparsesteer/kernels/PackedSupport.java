package org.sparsesteer.kernels;

import org.bytedeco.pytorch.Tensor;

/**
 * The SAE rows a steering vector supported on S touches, gathered once by {@link SasKernels#packSupport} for
 * the fused per-token step: {@code Wenc_S [s, d]} (the transposed columns W_enc[:, S]), {@code benc_S [s]},
 * {@code thr_S [s]} (null when the SAE has no threshold), {@code Wdec_S [s, d]}, all in the SAE's dtype on its
 * device; {@code S} is a copy of the int64 feature indices and {@code m} the SAE width. Owns its tensors.
 */
public record PackedSupport(Tensor Wenc_S, Tensor benc_S, Tensor thr_S, Tensor Wdec_S, Tensor S, long m)
        implements AutoCloseable {
    /** The support size s. */
    public long s() {
        return Wenc_S.size(0);
    }

    /** The model width d. */
    public long d() {
        return Wenc_S.size(1);
    }

    @Override
    public void close() {
        Wenc_S.close();
        benc_S.close();
        if (thr_S != null) {
            thr_S.close();
        }
        Wdec_S.close();
        S.close();
    }
}
