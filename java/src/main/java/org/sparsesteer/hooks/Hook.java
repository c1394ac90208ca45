package org.sparsesteer.hooks;

import org.bytedeco.pytorch.Tensor;

/**
 * Reads or modifies an activation [batch, T, d] at a hook point during one forward call.
 *
 * <p>Return {@code null} (or the tensor given) to keep the activation, or a new [batch, T, d] tensor
 * of the same dtype and device to replace it. The activation is valid only during the call: a hook
 * that keeps data must copy it. Tensors the hook creates belong to the forward call's scope and are
 * released after the call; the returned tensor must be such a tensor (do not retain it), and data the
 * hook wants to keep beyond the call it must own itself (see {@link Capture}).
 */
@FunctionalInterface
public interface Hook {
    Tensor apply(HookPoint point, Tensor activation, HookContext context);
}
