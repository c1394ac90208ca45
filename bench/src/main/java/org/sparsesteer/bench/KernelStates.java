package org.sparsesteer.bench;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.sparsesteer.kernels.PackedSupport;
import org.sparsesteer.kernels.SasKernels;

/**
 * JMH states shared by the kernel benchmarks: a synthetic Gemma-Scope-like JumpReLU SAE (f32, CPU), a batch of
 * activations and a steering vector's support. Every tensor is created once per trial (x is restored from a copy
 * before each iteration, since the steering and injection benchmarks update it in place).
 *
 * <p>The kernel benchmarks fork with {@code -Dorg.bytedeco.javacpp.maxPhysicalBytes=0}, as {@code bin/sas} runs
 * and the README advises library users: without it JavaCPP reads the process's memory size from /proc for every
 * native object it creates (about 1 us each), which would swamp the small calls on both sides.
 */
public final class KernelStates {
    private KernelStates() {}

    /** The steering strength used by all steering benchmarks. */
    public static final float LAMBDA = 4f;

    /**
     * Keeps a tensor created inside a PointerScope alive past the scope (freed with {@link Tensor#close}). Only for
     * tensors returned by value: the Tensor objects of in-place ops ({@code mul_}...) are references to their
     * receiver and own nothing.
     */
    static Tensor keep(Tensor t) {
        return t.retainReference();
    }

    /**
     * Model width d (Gemma 2 2B: 2304) and SAE width m. Also applies {@code -Dsas.bench.torchThreads=N} (pass it
     * with {@code -jvmArgsAppend}) to libtorch's intra-op thread count; the kernels' pool follows the
     * {@code SAS_NUM_THREADS} environment variable, which the forked JVMs inherit.
     */
    @State(Scope.Benchmark)
    public static class Dims {
        @Param({"2304"})
        public int d;

        @Param({"16384", "65536"})
        public int m;

        @Setup(Level.Trial)
        public void threads() {
            String n = System.getProperty("sas.bench.torchThreads");
            if (n != null && !n.isBlank()) {
                torch.set_num_threads(Integer.parseInt(n.trim()));
            }
        }
    }

    /**
     * A JumpReLU SAE in Gemma Scope layout: W_enc [d, m] scaled so that pre-activations of unit-variance x are
     * about N(0, 1), thresholds in [2, 2.5] (about 1-2% of features active, an L0 of a few hundred), W_dec [m, d].
     */
    @State(Scope.Benchmark)
    public static class Sae {
        public Tensor W_enc;
        public Tensor b_enc;
        public Tensor threshold;
        public Tensor W_dec;

        @Setup(Level.Trial)
        public void setup(Dims dims) {
            try (PointerScope scope = new PointerScope()) {
                torch.manual_seed(1234);
                W_enc = keep(torch.randn(dims.d, dims.m));
                W_enc.mul_(new Scalar((float) (1 / Math.sqrt(dims.d))));
                b_enc = keep(torch.randn(dims.m));
                b_enc.mul_(new Scalar(0.05f));
                threshold = keep(torch.rand(dims.m));
                threshold.mul_(new Scalar(0.5f)).add_(new Scalar(2f));
                W_dec = keep(torch.randn(dims.m, dims.d));
                W_dec.mul_(new Scalar(0.05f));
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            W_enc.close();
            b_enc.close();
            threshold.close();
            W_dec.close();
        }
    }

    /** A batch x [n, d] of unit-variance activations (n = 1 is one decode step). */
    @State(Scope.Benchmark)
    public static class Batch {
        @Param({"1", "8", "64"})
        public int n;

        public Tensor x;
        Tensor x0;

        @Setup(Level.Trial)
        public void setup(Dims dims) {
            try (PointerScope scope = new PointerScope()) {
                torch.manual_seed(99);
                x0 = keep(torch.randn(n, dims.d));
                x = keep(x0.clone());
            }
        }

        /** The in-place benchmarks keep adding to x: start every iteration from the same activations. */
        @Setup(Level.Iteration)
        public void reset() {
            try (PointerScope scope = new PointerScope()) {
                x.copy_(x0);
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            x.close();
            x0.close();
        }
    }

    /** A steering vector's support: s distinct features S (int64) with coefficients v_S (f32); s is also top-k's k. */
    @State(Scope.Benchmark)
    public static class Support {
        @Param({"8", "64", "256"})
        public int s;

        public Tensor S;
        public Tensor v_S;
        /** The same vector dense over all m features (zero outside S). */
        public Tensor v;

        @Setup(Level.Trial)
        public void setup(Dims dims) {
            try (PointerScope scope = new PointerScope()) {
                torch.manual_seed(7);
                S = keep(torch.randperm(dims.m).narrow(0, 0, s).contiguous());
                v_S = keep(torch.rand(s));
                v_S.add_(new Scalar(0.5f));
                v = keep(torch.zeros(dims.m));
                v.index_add_(0, S, v_S);
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            S.close();
            v_S.close();
            v.close();
        }
    }

    /** The support packed once per vector for the fused step (and its libtorch twin, the same tensors). */
    @State(Scope.Benchmark)
    public static class Packed {
        public PackedSupport packed;
        /** Wenc_S^T as a [d, s] view, for the libtorch composite. */
        public Tensor WencS_T;

        @Setup(Level.Trial)
        public void setup(Sae sae, Support support) {
            packed = SasKernels.packSupport(sae.W_enc, sae.b_enc, sae.threshold, sae.W_dec, support.S);
            try (PointerScope scope = new PointerScope()) {
                WencS_T = keep(packed.Wenc_S().t());
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            WencS_T.close();
            packed.close();
        }
    }

    /** Injection operands: per row, s random features (int64 [n, s]) and coefficients (f32 [n, s]). */
    @State(Scope.Benchmark)
    public static class Injection {
        public Tensor indices;
        public Tensor coeffs;

        @Setup(Level.Trial)
        public void setup(Dims dims, Batch batch, Support support) {
            try (PointerScope scope = new PointerScope()) {
                torch.manual_seed(5);
                indices = keep(torch.randint(dims.m, new long[] {batch.n, support.s}));
                coeffs = keep(torch.randn(batch.n, support.s));
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            indices.close();
            coeffs.close();
        }
    }

    /** Scores to select from: rows [n, m] for top-k rows. */
    @State(Scope.Benchmark)
    public static class Scores {
        public Tensor rows;

        @Setup(Level.Trial)
        public void setup(Dims dims, Batch batch) {
            try (PointerScope scope = new PointerScope()) {
                torch.manual_seed(3);
                rows = keep(torch.randn(batch.n, dims.m));
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            rows.close();
        }
    }

    /** A dense vector v [m] (a steering direction in feature space) for top-k by |v|. */
    @State(Scope.Benchmark)
    public static class Direction {
        public Tensor v;

        @Setup(Level.Trial)
        public void setup(Dims dims) {
            try (PointerScope scope = new PointerScope()) {
                torch.manual_seed(4);
                v = keep(torch.randn(dims.m));
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            v.close();
        }
    }
}
