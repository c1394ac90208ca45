package org.sparsesteer.kernels;

import org.bytedeco.pytorch.Tensor;

/**
 * The tensors of one sparse autoencoder, in SAELens / Gemma Scope names and layout:
 * {@code W_enc [d, m]}, {@code b_enc [m]}, {@code threshold [m]} (JumpReLU only, else may be null) and
 * {@code W_dec [m, d]} (may be null for encode-only use). Not owned: closing is the caller's business.
 */
public record SaeParams(Tensor W_enc, Tensor b_enc, Tensor threshold, Tensor W_dec) {}
