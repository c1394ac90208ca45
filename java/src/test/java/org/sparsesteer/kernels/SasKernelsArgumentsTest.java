package org.sparsesteer.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.sparsesteer.kernels.TorchTestUtil.assertClose;
import static org.sparsesteer.kernels.TorchTestUtil.floats;
import static org.sparsesteer.kernels.TorchTestUtil.longs;
import static org.sparsesteer.kernels.TorchTestUtil.longs2;
import static org.sparsesteer.kernels.TorchTestUtil.randn;
import static org.sparsesteer.kernels.TorchTestUtil.randomSae;
import static org.sparsesteer.kernels.TorchTestUtil.refSteer;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every bad argument is refused in Java, before native code runs, with an IllegalArgumentException naming the
 * argument; and the JVM lives on: after all the bad calls, good calls still work.
 */
class SasKernelsArgumentsTest {
    static final long N = 3;
    static final long D = 32;
    static final long M = 128;

    static PointerScope scope;
    static TorchTestUtil.Sae sae;
    static Tensor x;
    static Tensor S;
    static Tensor v_S;
    static PackedSupport packed;
    static PackedSupport packedNoThreshold;

    /** One bad call: what it is, the argument its message must name, and the call. */
    record Bad(String what, String argument, Runnable call) {}

    @BeforeAll
    static void setUp() {
        scope = new PointerScope();
        sae = randomSae(D, M, 3);
        x = randn(1, N, D);
        S = longs(4, 9, 100);
        v_S = floats(1f, -1f, 2f);
        packed = SasKernels.packSupport(sae.params(), S);
        packedNoThreshold = SasKernels.packSupport(sae.W_enc(), sae.b_enc(), null, sae.W_dec(), S);
    }

    @AfterAll
    static void tearDown() {
        scope.close();
    }

    static Tensor meta(long... sizes) {
        try (Device meta = new Device("meta")) {
            return torch.empty(sizes, new TensorOptions(meta), new org.bytedeco.pytorch.MemoryFormatOptional());
        }
    }

    static Tensor step2(Tensor t) {
        return t.slice(0, new LongOptional(0), new LongOptional(t.size(0)), 2);
    }

    static List<Bad> badCalls() {
        Tensor W_enc = sae.W_enc();
        Tensor b_enc = sae.b_enc();
        Tensor thr = sae.threshold();
        Tensor W_dec = sae.W_dec();
        Activation J = Activation.JUMPRELU;
        Activation R = Activation.RELU;
        Activation T = Activation.TOPK;
        List<Bad> bad = new ArrayList<>();

        // encodeDense: tensors
        bad.add(new Bad("null x", "x", () -> SasKernels.encodeDense(null, W_enc, b_enc, thr, J, 0)));
        bad.add(new Bad("undefined x", "x", () -> SasKernels.encodeDense(new Tensor(), W_enc, b_enc, thr, J, 0)));
        bad.add(new Bad("x rank 1", "x", () -> SasKernels.encodeDense(randn(1, D), W_enc, b_enc, thr, J, 0)));
        bad.add(new Bad("x rank 3", "x", () -> SasKernels.encodeDense(randn(1, 1, N, D), W_enc, b_enc, thr, J, 0)));
        bad.add(new Bad("x wrong d", "W_enc", () -> SasKernels.encodeDense(randn(1, N, D + 1), W_enc, b_enc, thr, J, 0)));
        bad.add(new Bad("x float64", "x", () -> SasKernels.encodeDense(x.to(ScalarType.Double), W_enc, b_enc, thr, J, 0)));
        bad.add(new Bad("x int64", "x", () -> SasKernels.encodeDense(x.to(ScalarType.Long), W_enc, b_enc, thr, J, 0)));
        bad.add(new Bad("x column-major", "x", () -> SasKernels.encodeDense(randn(1, D, N).t(), W_enc, b_enc, thr, J, 0)));
        bad.add(new Bad("x overlapping rows", "x", () -> SasKernels.encodeDense(randn(1, 1, D).expand(N, D), W_enc, b_enc, thr, J, 0)));
        bad.add(new Bad("x on meta device", "x", () -> SasKernels.encodeDense(meta(N, D), W_enc, b_enc, thr, J, 0)));
        bad.add(new Bad("x bf16, SAE f32", "W_enc", () -> SasKernels.encodeDense(x.to(ScalarType.BFloat16), W_enc, b_enc, thr, J, 0)));
        bad.add(new Bad("null W_enc", "W_enc", () -> SasKernels.encodeDense(x, null, b_enc, thr, J, 0)));
        bad.add(new Bad("W_enc rank 1", "W_enc", () -> SasKernels.encodeDense(x, randn(1, D * M), b_enc, thr, J, 0)));
        bad.add(new Bad("W_enc transposed layout [m, d]", "W_enc", () -> SasKernels.encodeDense(x, W_enc.t().contiguous(), b_enc, thr, J, 0)));
        bad.add(new Bad("W_enc non-contiguous", "W_enc", () -> SasKernels.encodeDense(x, randn(1, M, D).t(), b_enc, thr, J, 0)));
        bad.add(new Bad("W_enc on another device", "W_enc", () -> SasKernels.encodeDense(x, meta(D, M), b_enc, thr, J, 0)));
        bad.add(new Bad("W_enc f16", "W_enc", () -> SasKernels.encodeDense(x, W_enc.to(ScalarType.Half), b_enc, thr, J, 0)));
        bad.add(new Bad("null b_enc", "b_enc", () -> SasKernels.encodeDense(x, W_enc, null, thr, J, 0)));
        bad.add(new Bad("b_enc wrong size", "b_enc", () -> SasKernels.encodeDense(x, W_enc, randn(1, M - 1), thr, J, 0)));
        bad.add(new Bad("b_enc rank 2", "b_enc", () -> SasKernels.encodeDense(x, W_enc, randn(1, 1, M), thr, J, 0)));
        bad.add(new Bad("b_enc bf16", "b_enc", () -> SasKernels.encodeDense(x, W_enc, b_enc.to(ScalarType.BFloat16), thr, J, 0)));
        bad.add(new Bad("b_enc strided", "b_enc", () -> SasKernels.encodeDense(x, W_enc, step2(randn(1, 2 * M)), thr, J, 0)));
        bad.add(new Bad("JumpReLU without threshold", "threshold", () -> SasKernels.encodeDense(x, W_enc, b_enc, null, J, 0)));
        bad.add(new Bad("threshold wrong size", "threshold", () -> SasKernels.encodeDense(x, W_enc, b_enc, randn(1, M + 1), J, 0)));
        bad.add(new Bad("threshold f64", "threshold", () -> SasKernels.encodeDense(x, W_enc, b_enc, thr.to(ScalarType.Double), J, 0)));
        bad.add(new Bad("null activation", "act", () -> SasKernels.encodeDense(x, W_enc, b_enc, thr, null, 0)));
        bad.add(new Bad("null SAE", "sae", () -> SasKernels.encodeDense(x, (SaeParams) null, J, 0)));
        // encodeDense: k
        bad.add(new Bad("TopK k = 0", "k", () -> SasKernels.encodeDense(x, W_enc, b_enc, thr, T, 0)));
        bad.add(new Bad("TopK k < 0", "k", () -> SasKernels.encodeDense(x, W_enc, b_enc, thr, T, -3)));
        bad.add(new Bad("TopK k > m", "k", () -> SasKernels.encodeDense(x, W_enc, b_enc, thr, T, (int) M + 1)));
        bad.add(new Bad("TopK k > 1024", "k", () -> SasKernels.encodeDense(x, randn(1, D, 2048), randn(1, 2048), null, T, 1025)));

        // encodeSparse
        bad.add(new Bad("maxNnz = 0", "maxNnz", () -> SasKernels.encodeSparse(x, sae.params(), R, 0, 0)));
        bad.add(new Bad("maxNnz > m", "maxNnz", () -> SasKernels.encodeSparse(x, sae.params(), R, 0, (int) M + 1)));
        bad.add(new Bad("encodeSparse x wrong dtype", "x", () -> SasKernels.encodeSparse(x.to(ScalarType.Int), sae.params(), R, 0, 4)));

        // encodeSubset
        bad.add(new Bad("subset TopK", "act", () -> SasKernels.encodeSubset(x, sae.params(), T, S)));
        bad.add(new Bad("subset null S", "S", () -> SasKernels.encodeSubset(x, sae.params(), J, null)));
        bad.add(new Bad("subset empty S", "S", () -> SasKernels.encodeSubset(x, sae.params(), J, longs())));
        bad.add(new Bad("subset S = m", "S", () -> SasKernels.encodeSubset(x, sae.params(), J, longs(1, M))));
        bad.add(new Bad("subset S negative", "S", () -> SasKernels.encodeSubset(x, sae.params(), J, longs(-1, 2))));
        bad.add(new Bad("subset S int32", "S", () -> SasKernels.encodeSubset(x, sae.params(), J, longs(1, 2).to(ScalarType.Int))));
        bad.add(new Bad("subset S float", "S", () -> SasKernels.encodeSubset(x, sae.params(), J, floats(1, 2))));
        bad.add(new Bad("subset S rank 2", "S", () -> SasKernels.encodeSubset(x, sae.params(), J, longs2(1, 2, 1, 2))));
        bad.add(new Bad("subset S strided", "S", () -> SasKernels.encodeSubset(x, sae.params(), J, step2(longs(1, 2, 3, 4)))));
        bad.add(new Bad("subset S on another device", "S", () -> SasKernels.encodeSubset(x, sae.params(), J, meta(2).to(ScalarType.Long))));

        // topkRows / topkAbs
        bad.add(new Bad("topkRows k = 0", "k", () -> SasKernels.topkRows(randn(1, 2, M), 0)));
        bad.add(new Bad("topkRows k > m", "k", () -> SasKernels.topkRows(randn(1, 2, 10), 11)));
        bad.add(new Bad("topkRows k > 1024", "k", () -> SasKernels.topkRows(randn(1, 1, 4096), 1025)));
        bad.add(new Bad("topkRows int x", "x", () -> SasKernels.topkRows(longs2(1, 2, 1, 2), 1)));
        bad.add(new Bad("topkRows rank 1", "x", () -> SasKernels.topkRows(randn(1, M), 1)));
        bad.add(new Bad("topkRows null", "x", () -> SasKernels.topkRows(null, 1)));
        bad.add(new Bad("topkAbs rank 2", "v", () -> SasKernels.topkAbs(randn(1, 2, M), 1)));
        bad.add(new Bad("topkAbs k = 0", "k", () -> SasKernels.topkAbs(randn(1, M), 0)));
        bad.add(new Bad("topkAbs k > m", "k", () -> SasKernels.topkAbs(randn(1, 5), 6)));
        bad.add(new Bad("topkAbs strided", "v", () -> SasKernels.topkAbs(step2(randn(1, 10)), 2)));

        // inject
        Tensor idx = longs2(N, 2, 0, 1, 2, 3, 4, 5);
        Tensor coeffs = randn(2, N, 2);
        bad.add(new Bad("inject W_dec [d, m]", "W_dec", () -> SasKernels.inject(x.clone(), W_dec.t().contiguous(), idx, coeffs)));
        bad.add(new Bad("inject W_dec bf16", "W_dec", () -> SasKernels.inject(x.clone(), W_dec.to(ScalarType.BFloat16), idx, coeffs)));
        bad.add(new Bad("inject indices float", "indices", () -> SasKernels.inject(x.clone(), W_dec, idx.to(ScalarType.Float), coeffs)));
        bad.add(new Bad("inject indices wrong n", "indices", () -> SasKernels.inject(x.clone(), W_dec, longs2(2, 2, 0, 1, 2, 3), coeffs)));
        bad.add(new Bad("inject index = m", "indices", () -> SasKernels.inject(x.clone(), W_dec, longs2(N, 2, 0, 1, 2, M, 4, 5), coeffs)));
        bad.add(new Bad("inject coeffs f64", "coeffs", () -> SasKernels.inject(x.clone(), W_dec, idx, coeffs.to(ScalarType.Double))));
        bad.add(new Bad("inject coeffs wrong nnz", "coeffs", () -> SasKernels.inject(x.clone(), W_dec, idx, randn(2, N, 3))));
        bad.add(new Bad("inject null coeffs", "coeffs", () -> SasKernels.inject(x.clone(), W_dec, idx, null)));

        // packSupport
        bad.add(new Bad("pack W_dec wrong shape", "W_dec", () -> SasKernels.packSupport(W_enc, b_enc, thr, randn(1, M, D + 1), S)));
        bad.add(new Bad("pack null W_dec", "W_dec", () -> SasKernels.packSupport(W_enc, b_enc, thr, null, S)));
        bad.add(new Bad("pack threshold wrong size", "threshold", () -> SasKernels.packSupport(W_enc, b_enc, randn(1, 3), W_dec, S)));
        bad.add(new Bad("pack S out of range", "S", () -> SasKernels.packSupport(W_enc, b_enc, thr, W_dec, longs(0, M + 5))));
        bad.add(new Bad("pack S empty", "S", () -> SasKernels.packSupport(W_enc, b_enc, thr, W_dec, longs())));
        bad.add(new Bad("pack W_enc f64", "W_enc", () -> SasKernels.packSupport(W_enc.to(ScalarType.Double), b_enc, thr, W_dec, S)));
        bad.add(new Bad("pack W_dec bf16", "W_dec", () -> SasKernels.packSupport(W_enc, b_enc, thr, W_dec.to(ScalarType.BFloat16), S)));

        // steerFused
        bad.add(new Bad("steer null packed", "packed", () -> SasKernels.steerFused(x.clone(), null, J, v_S, 1f, null)));
        bad.add(new Bad("steer TopK", "act", () -> SasKernels.steerFused(x.clone(), packed, T, v_S, 1f, null)));
        bad.add(new Bad("steer JumpReLU without thr_S", "thr_S", () -> SasKernels.steerFused(x.clone(), packedNoThreshold, J, v_S, 1f, null)));
        bad.add(new Bad("steer x wrong d", "Wenc_S", () -> SasKernels.steerFused(randn(1, N, D - 1), packed, J, v_S, 1f, null)));
        bad.add(new Bad("steer x bf16", "Wenc_S", () -> SasKernels.steerFused(x.to(ScalarType.BFloat16), packed, J, v_S, 1f, null)));
        bad.add(new Bad("steer x null", "x", () -> SasKernels.steerFused(null, packed, J, v_S, 1f, null)));
        bad.add(new Bad("steer v_S wrong size", "v_S", () -> SasKernels.steerFused(x.clone(), packed, J, floats(1, 2), 1f, null)));
        bad.add(new Bad("steer v_S bf16", "v_S", () -> SasKernels.steerFused(x.clone(), packed, J, v_S.to(ScalarType.BFloat16), 1f, null)));
        bad.add(new Bad("steer v_S null", "v_S", () -> SasKernels.steerFused(x.clone(), packed, J, null, 1f, null)));
        bad.add(new Bad("steer lambda NaN", "lambda", () -> SasKernels.steerFused(x.clone(), packed, J, v_S, Float.NaN, null)));
        bad.add(new Bad("steer rowMask wrong size", "rowMask", () -> SasKernels.steerFused(x.clone(), packed, J, v_S, 1f, TorchTestUtil.bools(true))));
        bad.add(new Bad("steer rowMask float", "rowMask", () -> SasKernels.steerFused(x.clone(), packed, J, v_S, 1f, torch.ones(N))));
        bad.add(new Bad("steer closed packed", "Wenc_S", () -> {
            PackedSupport closed = SasKernels.packSupport(sae.params(), S);
            closed.close();
            SasKernels.steerFused(x.clone(), closed, J, v_S, 1f, null);
        }));
        return bad;
    }

    @TestFactory
    Stream<DynamicTest> eachBadArgumentIsNamed() {
        return badCalls().stream().map(b -> DynamicTest.dynamicTest(b.what(), () -> assertRefused(b)));
    }

    private static void assertRefused(Bad b) {
        try (PointerScope s = new PointerScope()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b.call::run, b.what());
            assertTrue(e.getMessage().startsWith(b.argument()) || e.getMessage().contains(b.argument() + ":")
                            || e.getMessage().contains("." + b.argument() + ":"),
                    b.what() + ": message should name " + b.argument() + " but was: " + e.getMessage());
        }
    }

    @Test
    void theJvmLivesOnAfterAllBadCalls() {
        for (Bad b : badCalls()) {
            assertRefused(b);
        }
        try (PointerScope s = new PointerScope()) {
            Tensor xs = x.clone();
            SasKernels.steerFused(xs, packed, Activation.JUMPRELU, v_S, 2f, null);
            assertClose(refSteer(x, sae, Activation.JUMPRELU, S, v_S, 2f, null), xs, 1e-5, 1e-5, "good call");
            assertEquals(N * M, SasKernels.encodeDense(x, sae.params(), Activation.JUMPRELU, 0).numel());
        }
    }

    @Test
    void messagesGiveTheExpectedShape() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SasKernels.encodeDense(x, sae.W_enc(), randn(1, M - 1), sae.threshold(), Activation.RELU, 0));
        assertEquals("b_enc: expected shape [" + M + "] (m) but got [" + (M - 1) + "]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> SasKernels.encodeDense(randn(1, N, D + 1), sae.params(), Activation.RELU, 0));
        assertEquals("W_enc: expected shape [" + (D + 1) + ", m] (d, m) but got [" + D + ", " + M + "]",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> SasKernels.packSupport(sae.W_enc(), sae.b_enc(), null, randn(1, M, D - 1), S));
        assertEquals("W_dec: expected shape [" + M + ", " + D + "] (m, d) but got [" + M + ", " + (D - 1) + "]",
                e.getMessage());
    }
}
