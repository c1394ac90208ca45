package org.sparsesteer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.sparsesteer.sae.SaeConfig.Architecture;
import org.sparsesteer.tensor.Tensors;

/**
 * JumpReLU's straight-through estimators against the pseudo-derivatives of "Jumping Ahead" (rectangle
 * kernel, bandwidth eps = 0.001) on a hand-made case: feature 0 is active far from its threshold,
 * feature 1 is inactive but within eps/2 of it, feature 2 is inactive far below.
 */
class SaeTrainerEstimatorTest {
    static final double EPS = 1e-3;
    static final float[] THETA = {0.5f, 0.2002f, 0.1f};

    private static SaeModule module() {
        try (PointerScope s = new PointerScope()) {
            float[] logT = new float[3];
            for (int i = 0; i < 3; i++) logT[i] = (float) Math.log(THETA[i]);
            return SaeModule.of(Architecture.JUMPRELU, 0, EPS, Tensors.fromFloats(new float[] {1, 0, 0, 0, 1, 0}, 2, 3),
                    Tensors.fromFloats(new float[] {0, 0, -1}, 3), Tensors.fromFloats(new float[] {1, 0, 0, 1, 1, 1}, 3, 2),
                    Tensors.zeros(org.bytedeco.pytorch.global.torch.ScalarType.Float, 2), Tensors.fromFloats(logT, 3));
        }
    }

    @Test
    void stepEstimatorGivesTheL0ItsThresholdGradient() {
        try (SaeModule m = module(); PointerScope s = new PointerScope()) {
            SaeModule.Out out = m.forward(Tensors.fromFloats(new float[] {1.0f, 0.2f}, 1, 2));
            assertArrayEquals(new float[] {1}, Tensors.toFloats(out.l0()), 0f);
            out.l0().sum().backward();
            // dL0/dlog(theta_j) = -(1/eps) K((pre_j - theta_j)/eps) * theta_j; d/dpre = 0
            assertArrayEquals(new float[] {0, (float) (-THETA[1] / EPS), 0}, Tensors.toFloats(m.logThreshold.grad()), 1e-2f);
            assertFalse(m.bEnc.grad().defined(), "the L0 estimator sent a gradient to the encoder");
        }
    }

    @Test
    void jumpReluEstimatorGivesTheCodeItsThresholdGradient() {
        try (SaeModule m = module(); PointerScope s = new PointerScope()) {
            SaeModule.Out out = m.forward(Tensors.fromFloats(new float[] {1.0f, 0.2f}, 1, 2));
            assertArrayEquals(new float[] {1, 0, 0}, Tensors.toFloats(out.f()), 0f);
            out.f().sum().backward();
            // df/dlog(theta_j) = -(theta_j/eps) K(...) * theta_j; df/dpre = H(pre - theta)
            assertArrayEquals(new float[] {0, (float) (-THETA[1] * THETA[1] / EPS), 0}, Tensors.toFloats(m.logThreshold.grad()), 1e-3f);
            assertArrayEquals(new float[] {1, 0, 0}, Tensors.toFloats(m.bEnc.grad()), 0f);
        }
    }
}
