package org.sparsesteer.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.sparsesteer.kernels.TorchTestUtil.assertClose;
import static org.sparsesteer.kernels.TorchTestUtil.assertShape;
import static org.sparsesteer.kernels.TorchTestUtil.bools;
import static org.sparsesteer.kernels.TorchTestUtil.f32;
import static org.sparsesteer.kernels.TorchTestUtil.floats;
import static org.sparsesteer.kernels.TorchTestUtil.longs;
import static org.sparsesteer.kernels.TorchTestUtil.longs2;
import static org.sparsesteer.kernels.TorchTestUtil.randn;
import static org.sparsesteer.kernels.TorchTestUtil.randomSae;
import static org.sparsesteer.kernels.TorchTestUtil.refEncode;
import static org.sparsesteer.kernels.TorchTestUtil.refSteer;
import static org.sparsesteer.kernels.TorchTestUtil.toFloats;
import static org.sparsesteer.kernels.TorchTestUtil.toInts;
import static org.sparsesteer.kernels.TorchTestUtil.toLongs;

import java.util.Collection;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The checked Java layer against libtorch composites doing the same job, on CPU. */
class SasKernelsTest {
    static final long N = 5;
    static final long D = 64;
    static final long M = 256;
    static final double F32_TOL = 1e-5;

    PointerScope scope;
    TorchTestUtil.Sae sae;
    Tensor x;

    @BeforeEach
    void setUp() {
        scope = new PointerScope();
        sae = randomSae(D, M, 7);
        x = randn(11, N, D);
    }

    @AfterEach
    void tearDown() {
        scope.close();
    }

    // ---- encode ------------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Activation.class)
    void encodeDenseMatchesLibtorch(Activation act) {
        int k = 12;
        Tensor out = SasKernels.encodeDense(x, sae.params(), act, k);
        assertShape(out, N, M);
        assertEquals(ScalarType.Float, out.scalar_type().intern());
        assertClose(refEncode(x, sae, act, k), out, F32_TOL, F32_TOL, "encode_dense " + act);
        if (act == Activation.TOPK) {
            for (float[] row : rows(out, N, M)) {
                int nonzero = 0;
                for (float v : row) {
                    nonzero += v != 0 ? 1 : 0;
                }
                assertTrue(nonzero <= k, "TopK row has " + nonzero + " > k active features");
            }
        }
    }

    /**
     * SasKernels caches the TensorOptions of new tensors; an entry made while the caller has a PointerScope open
     * must outlive that scope (made in a scope of its own, detached, one reference kept). Were it freed with the
     * caller's scope, later calls would build tensors from freed memory.
     */
    @Test
    void cachedTensorOptionsOutliveTheCallersScope() {
        SasKernels.clearOptionsCacheForTest();
        try (PointerScope caller = new PointerScope()) {
            SasKernels.topkRows(x, 3); // makes the (cpu, float32) and (cpu, int64) entries inside `caller`
        }
        Collection<TensorOptions> cached = SasKernels.cachedOptionsForTest();
        assertEquals(2, cached.size());
        for (TensorOptions o : cached) {
            assertFalse(o.isNull(), "a cached TensorOptions was freed");
            assertTrue(o.referenceCount() >= 1, "a cached TensorOptions holds no reference: " + o.referenceCount());
        }
        for (int i = 0; i < 3; i++) {
            try (TopK top = SasKernels.topkRows(x, 3)) {
                T_TensorTensor_T ref = x.topk(3, 1, true, true);
                assertArrayEquals(toFloats(ref.get0()), toFloats(top.values()), "top-k values after the scope closed");
                assertEquals(ScalarType.Long, top.indices().scalar_type().intern());
            }
        }
    }

    @Test
    void encodeDenseReadsStridedRows() {
        Tensor wide = randn(3, N, D + 9);
        Tensor view = wide.narrow(1, 4, D); // rows D + 9 apart
        assertFalse(view.is_contiguous());
        Tensor out = SasKernels.encodeDense(view, sae.W_enc(), sae.b_enc(), sae.threshold(), Activation.JUMPRELU, 0);
        assertClose(refEncode(view.contiguous(), sae, Activation.JUMPRELU, 0), out, F32_TOL, F32_TOL, "strided x");
    }

    @ParameterizedTest
    @EnumSource(value = ScalarType.class, names = {"BFloat16", "Half"})
    void encodeDenseHalfPrecision(ScalarType dtype) {
        TorchTestUtil.Sae h = sae.to(dtype);
        Tensor xh = x.to(dtype);
        Tensor out = SasKernels.encodeDense(xh, h.params(), Activation.RELU, 0);
        assertEquals(ScalarType.Float, out.scalar_type().intern());
        // the reference upcasts the same half-precision values: only the summation order differs
        assertClose(refEncode(xh, h, Activation.RELU, 0), out, 1e-4, 1e-4, "encode_dense " + dtype);
    }

    @ParameterizedTest
    @EnumSource(Activation.class)
    void encodeSparseMatchesDense(Activation act) {
        int k = 10;
        Tensor dense = SasKernels.encodeDense(x, sae.params(), act, k);
        try (SparseCode code = SasKernels.encodeSparse(x, sae.params(), act, k, act == Activation.TOPK ? k : 200)) {
            assertEquals(ScalarType.Long, code.indices().scalar_type().intern());
            assertEquals(ScalarType.Float, code.values().scalar_type().intern());
            assertEquals(ScalarType.Int, code.counts().scalar_type().intern());
            assertShape(code.counts(), N);
            assertDenseEqualsSparse(dense, code);
        }
    }

    @Test
    void encodeSparseRetriesWhenARowOverflows() {
        Tensor dense = SasKernels.encodeDense(x, sae.params(), Activation.RELU, 0);
        try (SparseCode code = SasKernels.encodeSparse(x, sae.params(), Activation.RELU, 0, 1)) {
            int most = 0;
            for (int c : toInts(code.counts())) {
                most = Math.max(most, c);
            }
            assertTrue(most > 1, "the test needs rows with more than one active feature");
            assertEquals(most, code.maxNnz(), "retried with a buffer as wide as the largest count");
            assertDenseEqualsSparse(dense, code);
        }
    }

    private static void assertDenseEqualsSparse(Tensor dense, SparseCode code) {
        long m = dense.size(1);
        int width = (int) code.maxNnz();
        float[][] rows = rows(dense, dense.size(0), m);
        long[] idx = toLongs(code.indices());
        float[] val = toFloats(code.values());
        int[] cnt = toInts(code.counts());
        for (int r = 0; r < rows.length; r++) {
            int active = 0;
            for (float v : rows[r]) {
                active += v != 0 ? 1 : 0;
            }
            assertEquals(active, cnt[r], "count of row " + r);
            float[] rebuilt = new float[(int) m];
            long last = -1;
            for (int i = 0; i < width; i++) {
                long j = idx[r * width + i];
                if (i < cnt[r]) {
                    assertTrue(j > last, "ascending feature indices in row " + r);
                    last = j;
                    rebuilt[(int) j] = val[r * width + i];
                } else {
                    assertEquals(-1, j, "unused slot index");
                    assertEquals(0f, val[r * width + i], "unused slot value");
                }
            }
            assertArrayEquals(rows[r], rebuilt, 1e-6f, "row " + r + " rebuilt from the sparse code");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Activation.class, names = {"JUMPRELU", "RELU"})
    void encodeSubsetMatchesIndexSelect(Activation act) {
        Tensor S = longs(200, 3, 77, 3, 255, 0, 31); // any order, repeats allowed
        Tensor out = SasKernels.encodeSubset(x, sae.params(), act, S);
        assertShape(out, N, 7);
        Tensor pre = f32(x).matmul(sae.W_enc().index_select(1, S)).add(sae.b_enc().index_select(0, S));
        Tensor ref = TorchTestUtil.refAct(pre, sae.threshold().index_select(0, S), act, 0);
        assertClose(ref, out, F32_TOL, F32_TOL, "encode_subset " + act);
    }

    // ---- top-k -------------------------------------------------------------------------------------------

    @Test
    void topkRowsMatchesTorchTopk() {
        Tensor scores = randn(5, 6, M);
        try (TopK top = SasKernels.topkRows(scores, 17)) {
            T_TensorTensor_T ref = scores.topk(17, 1, true, true);
            assertShape(top.values(), 6, 17);
            assertEquals(ScalarType.Long, top.indices().scalar_type().intern());
            assertArrayEquals(toFloats(ref.get0()), toFloats(top.values()), 0f, "values");
            assertArrayEquals(toLongs(ref.get1()), toLongs(top.indices()), "indices (no ties in random data)");
        }
    }

    @Test
    void topkRowsBreaksTiesByLowerIndex() {
        Tensor scores = floats(1, 3, 3, 2, 3, 0, 5, 5, -1, 5, 5, 5).reshape(2, 6).contiguous();
        try (TopK top = SasKernels.topkRows(scores, 4)) {
            assertArrayEquals(new float[] {3, 3, 3, 2, 5, 5, 5, 5}, toFloats(top.values()), 0f);
            assertArrayEquals(new long[] {1, 2, 4, 3, 0, 1, 3, 4}, toLongs(top.indices()));
        }
    }

    @Test
    void topkRowsBf16() {
        Tensor scores = randn(6, 3, M).to(ScalarType.BFloat16);
        try (TopK top = SasKernels.topkRows(scores, 9)) {
            T_TensorTensor_T ref = f32(scores).topk(9, 1, true, true);
            assertArrayEquals(toFloats(ref.get0()), toFloats(top.values()), 0f, "values");
        }
    }

    @Test
    void topkAbsMatchesTorchTopkOfAbs() {
        Tensor v = randn(8, M);
        try (TopK top = SasKernels.topkAbs(v, 32)) {
            T_TensorTensor_T ref = v.abs().topk(32, 0, true, true);
            assertShape(top.values(), 32);
            assertArrayEquals(toLongs(ref.get1()), toLongs(top.indices()), "indices");
            assertArrayEquals(toFloats(v.index_select(0, ref.get1())), toFloats(top.values()), 0f,
                    "signed values");
        }
        try (TopK tie = SasKernels.topkAbs(floats(-2, 1, 2, -3, 0), 3)) {
            assertArrayEquals(new long[] {3, 0, 2}, toLongs(tie.indices()), "|v| ties by lower index");
            assertArrayEquals(new float[] {-3, -2, 2}, toFloats(tie.values()), 0f);
        }
    }

    // ---- inject, pack, fused steer -------------------------------------------------------------------------

    @Test
    void injectMatchesIndexSelectMatmul() {
        int nnz = 4;
        Tensor indices = longs2(N, nnz, 3, 200, -1, 7, 0, 0, 255, 9, 12, -1, -1, -1, 100, 101, 102, 103, 5, 6, 7, 8);
        Tensor coeffs = randn(21, N, nnz);
        Tensor expected = f32(x).clone();
        long[] idx = toLongs(indices);
        for (int r = 0; r < N; r++) {
            for (int j = 0; j < nnz; j++) {
                long f = idx[r * nnz + j];
                if (f >= 0) {
                    Tensor row = expected.select(0, r);
                    row.add_(sae.W_dec().select(0, f).mul(coeffs.select(0, r).select(0, j)));
                }
            }
        }
        // the same as a batched index_select + matmul
        Tensor safe = indices.clamp_min(new Scalar(0L));
        Tensor gathered = sae.W_dec().index_select(0, safe.flatten()).reshape(N, nnz, D);
        Tensor c = coeffs.where(indices.ge(new Scalar(0L)), new Scalar(0f)).unsqueeze(1);
        Tensor viaMatmul = f32(x).add(c.matmul(gathered).squeeze(1));
        assertClose(expected, viaMatmul, F32_TOL, F32_TOL, "reference self-check");

        Tensor xs = x.clone();
        SasKernels.inject(xs, sae.W_dec(), indices, coeffs);
        assertClose(expected, xs, F32_TOL, F32_TOL, "inject");
    }

    @Test
    void injectBf16KeepsDtype() {
        Tensor xb = x.to(ScalarType.BFloat16);
        Tensor wb = sae.W_dec().to(ScalarType.BFloat16);
        Tensor indices = longs2(N, 1, 1, 2, 3, 4, 5);
        Tensor coeffs = torch.ones(N, 1);
        Tensor expected = f32(xb).add(f32(wb).index_select(0, longs(1, 2, 3, 4, 5)));
        SasKernels.inject(xb, wb, indices, coeffs);
        assertEquals(ScalarType.BFloat16, xb.scalar_type().intern());
        assertClose(expected, xb, 1e-2, 1e-2, "inject bf16");
    }

    @Test
    void packSupportGathersTheRows() {
        Tensor S = longs(9, 250, 0, 17);
        try (PackedSupport p = SasKernels.packSupport(sae.params(), S)) {
            assertEquals(4, p.s());
            assertEquals(D, p.d());
            assertEquals(M, p.m());
            assertClose(sae.W_enc().index_select(1, S).t(), p.Wenc_S(), 0, 0, "Wenc_S");
            assertClose(sae.W_dec().index_select(0, S), p.Wdec_S(), 0, 0, "Wdec_S");
            assertClose(sae.b_enc().index_select(0, S), p.benc_S(), 0, 0, "benc_S");
            assertClose(sae.threshold().index_select(0, S), p.thr_S(), 0, 0, "thr_S");
            assertArrayEquals(toLongs(S), toLongs(p.S()));
        }
        try (PackedSupport p = SasKernels.packSupport(sae.W_enc(), sae.b_enc(), null, sae.W_dec(), S)) {
            assertNull(p.thr_S());
        }
    }

    @ParameterizedTest
    @EnumSource(value = Activation.class, names = {"JUMPRELU", "RELU"})
    void steerFusedMatchesDenseFormula(Activation act) {
        Tensor S = longs(5, 41, 130, 7, 255, 64, 2, 199);
        Tensor v_S = floats(1.5f, -0.5f, 2f, 0.25f, -3f, 1f, 0.75f, -1f);
        for (float lambda : new float[] {4f, -2.5f, 0f}) {
            try (PackedSupport p = SasKernels.packSupport(sae.params(), S)) {
                Tensor xs = x.clone();
                SasKernels.steerFused(xs, p, act, v_S, lambda, null);
                assertClose(refSteer(x, sae, act, S, v_S, lambda, null), xs, F32_TOL, F32_TOL,
                        "steer_fused " + act + " lambda " + lambda);
            }
        }
    }

    @Test
    void steerFusedHonoursTheRowMaskAndStridedRows() {
        Tensor S = longs(10, 20, 30, 40);
        Tensor v_S = floats(2f, -1f, 1f, 3f);
        boolean[] mask = {true, false, true, false, true};
        Tensor wide = randn(4, N, D + 3);
        Tensor view = wide.narrow(1, 3, D);
        Tensor before = view.contiguous().clone();
        try (PackedSupport p = SasKernels.packSupport(sae.params(), S)) {
            SasKernels.steerFused(view, p, Activation.JUMPRELU, v_S, 3f, bools(mask));
            Tensor expected = refSteer(before, sae, Activation.JUMPRELU, S, v_S, 3f, mask);
            assertClose(expected, view, F32_TOL, F32_TOL, "masked, strided steer");
            assertClose(wide.narrow(1, 0, 3).contiguous(), wide.narrow(1, 0, 3), 0, 0, "columns left of the view");
            // uint8 masks are accepted too
            Tensor again = before.clone();
            SasKernels.steerFused(again, p, Activation.JUMPRELU, v_S, 3f, bools(mask).to(ScalarType.Byte));
            assertClose(expected, again, F32_TOL, F32_TOL, "uint8 mask");
        }
    }

    @ParameterizedTest
    @EnumSource(value = ScalarType.class, names = {"BFloat16", "Half"})
    void steerFusedHalfPrecision(ScalarType dtype) {
        TorchTestUtil.Sae h = sae.to(dtype);
        Tensor S = longs(1, 2, 3, 50, 60, 70, 250);
        Tensor v_S = floats(1f, 2f, -1f, 0.5f, 3f, -2f, 1f);
        Tensor xh = x.to(dtype);
        Tensor expected = refSteer(xh, h, Activation.JUMPRELU, S, v_S, 2f, null);
        try (PackedSupport p = SasKernels.packSupport(h.params(), S)) {
            assertEquals(dtype, p.Wenc_S().scalar_type().intern());
            SasKernels.steerFused(xh, p, Activation.JUMPRELU, v_S, 2f, null);
        }
        assertEquals(dtype, xh.scalar_type().intern());
        // inputs identical, only the final rounding of x to 8 (bf16) or 11 (f16) mantissa bits differs
        assertClose(expected, xh, 2e-2, 1e-2, "steer_fused " + dtype);
    }

    @Test
    void emptyBatchIsANoOp() {
        Tensor none = torch.zeros(0, D);
        assertShape(SasKernels.encodeDense(none, sae.params(), Activation.JUMPRELU, 0), 0, M);
        try (SparseCode code = SasKernels.encodeSparse(none, sae.params(), Activation.RELU, 0, 4)) {
            assertShape(code.indices(), 0, 4);
        }
        try (PackedSupport p = SasKernels.packSupport(sae.params(), longs(1, 2))) {
            SasKernels.steerFused(none, p, Activation.RELU, floats(1, 1), 1f, null);
        }
        SasKernels.inject(none, sae.W_dec(), torch.zeros(new long[] {0, 3}, new org.bytedeco.pytorch.TensorOptions(
                ScalarType.Long)), torch.zeros(0, 3));
    }

    @Test
    void resultsJoinTheCallersScope() {
        Tensor out;
        try (PointerScope inner = new PointerScope()) {
            out = SasKernels.encodeDense(x, sae.params(), Activation.RELU, 0);
            assertFalse(out.isNull());
            assertEquals(N * M, out.numel());
        }
        assertTrue(out.isNull(), "the caller's scope freed the result");
        Tensor kept = SasKernels.encodeDense(x, sae.params(), Activation.RELU, 0);
        assertFalse(kept.isNull(), "outside any inner scope the result lives on");
    }

    @Test
    void nativeFailuresBecomeExceptions() {
        // straight through the raw binding, bypassing the Java checks: k = 0
        int status = SasKernelsLib.sas_topk_abs(SasKernelsLib.SAS_DEVICE_CPU, null, SasKernelsLib.SAS_F32,
                x.data_ptr(), D, 0, new FloatPointer(x.data_ptr()), new LongPointer(x.data_ptr()));
        assertEquals(SasKernelsLib.SAS_ERR_BAD_K, status);
        SasKernelsException e = assertThrows(SasKernelsException.class, () -> SasKernels.check("sas_topk_abs", status));
        assertEquals("SAS_ERR_BAD_K", e.statusName());
        assertFalse(e.nativeMessage().isEmpty(), "sas_last_error() explains the failure");
        assertTrue(e.getMessage().contains("sas_topk_abs") && e.getMessage().contains("SAS_ERR_BAD_K"), e.getMessage());
    }

    @Test
    void versionAndCudaFlag() {
        assertTrue(SasKernels.version().matches("\\d+\\.\\d+\\.\\d+.*"), SasKernels.version());
        String info = SasKernels.buildInfo();
        assertTrue(info.startsWith("sas_kernels " + SasKernels.version() + "; CPU: "), info);
        // Built with CUDA (nvcc was found at build time): the variants are listed; else it says so.
        assertTrue(info.contains("variants: SAS_CUDA_TC_GEMV=") || info.contains("CUDA kernels: not built"), info);
        assertEquals(SasKernels.cudaAvailable(), info.contains("; device: "), info);
        if (!torch.cuda_is_available()) {
            // the library must load and answer on a host without a GPU
            assertFalse(SasKernels.cudaAvailable());
        }
    }

    @Test
    void cudaStreamLookupFailsCleanlyWithoutCuda() {
        if (torch.cuda_is_available()) {
            CudaStreams.current(0); // libtorch's current stream of cuda:0 (null = the legacy default stream)
        } else {
            // the CPU build has no torch_cuda natives: a clear exception, not a crash
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> CudaStreams.current(0));
            assertTrue(e.getMessage().contains("CUDA stream"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> CudaStreams.current(0), "and again, once the class failed");
        }
    }

    @Test
    void cudaStreamAccessorIsWhereCudaStreamsLooksForIt() throws Exception {
        // CudaStreams reaches libtorch's current stream by reflection (the CPU build has no CUDA natives); a
        // preset upgrade that renamed or moved it would otherwise surface only on a GPU. Reflection on these
        // classes resolves every signature, some in the optional org.bytedeco:cuda preset (absent here), so
        // the class files' constant pools are searched for the names and descriptors instead.
        assertClassHas("org/bytedeco/pytorch/global/torch_cuda.class", "getCurrentCUDAStream",
                "(B)Lorg/bytedeco/pytorch/cuda/CUDAStream;");
        assertClassHas("org/bytedeco/pytorch/cuda/CUDAStream.class", "stream", "()Lorg/bytedeco/cuda/cudart/CUstream_st;");
    }

    private static void assertClassHas(String classFile, String method, String descriptor) throws java.io.IOException {
        try (java.io.InputStream in = SasKernelsTest.class.getClassLoader().getResourceAsStream(classFile)) {
            assertTrue(in != null, classFile + " on the class path");
            // Constant-pool UTF-8 entries are stored as a 2-byte length then the bytes.
            String pool = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
            for (String utf8 : new String[] {method, descriptor}) {
                String entry = (char) (utf8.length() >> 8) + "" + (char) (utf8.length() & 0xff) + utf8;
                assertTrue(pool.contains(entry), classFile + " has no constant " + utf8);
            }
        }
    }

    static float[][] rows(Tensor t, long n, long m) {
        float[] all = toFloats(t);
        float[][] rows = new float[(int) n][(int) m];
        for (int r = 0; r < n; r++) {
            System.arraycopy(all, (int) (r * m), rows[r], 0, (int) m);
        }
        return rows;
    }
}
