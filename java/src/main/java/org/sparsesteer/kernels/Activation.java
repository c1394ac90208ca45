package org.sparsesteer.kernels;

/** The SAE's activation function (sas_activation). */
public enum Activation {
    /** Gemma Scope: {@code f = pre if pre > threshold else 0}; needs the per-feature {@code threshold}. */
    JUMPRELU(SasKernelsLib.SAS_ACT_JUMPRELU),
    /** {@code f = max(pre, 0)}. */
    RELU(SasKernelsLib.SAS_ACT_RELU),
    /** Keep the k largest {@code pre} of a row (ties by lower index), ReLU'd. Depends on all m features. */
    TOPK(SasKernelsLib.SAS_ACT_TOPK);

    final int code;

    Activation(int code) {
        this.code = code;
    }
}
