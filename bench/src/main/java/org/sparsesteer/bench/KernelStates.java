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

    /**
     * How many distinct inputs a top-k benchmark cycles through: enough that no call sees the data of the one
     * before it (8 rows at n = 1, 1 batch from n = 8). Which entries pass a top-k's running bar is data, and a
     * CPU's branch predictor learns one repeated row: the kernel's CPU twin selected k = 256 of one repeated row
     * of 16k 4-6x faster than of the same row among 8 others (native/bench/RESULTS-cpu.md, "Top-k on data it
     * has not seen"). Both sides of each comparison see the same sequence of inputs.
     */
    static int poolSize(int n) {
        return (8 + n - 1) / n;
    }

    /** Scores to select from: rows [n, m] for top-k rows, {@link #poolSize} distinct batches taken in turn. */
    @State(Scope.Benchmark)
    public static class Scores {
        private Tensor[] pool;
        private int next;

        @Setup(Level.Trial)
        public void setup(Dims dims, Batch batch) {
            try (PointerScope scope = new PointerScope()) {
                torch.manual_seed(3);
                pool = new Tensor[poolSize(batch.n)];
                for (int i = 0; i < pool.length; i++) {
                    pool[i] = keep(torch.randn(batch.n, dims.m));
                }
            }
        }

        /** The next batch of rows [n, m]. */
        public Tensor rows() {
            Tensor t = pool[next];
            next = (next + 1) % pool.length;
            return t;
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            for (Tensor t : pool) {
                t.close();
            }
        }
    }

    /** Dense vectors v [m] (steering directions in feature space) for top-k by |v|, 8 taken in turn. */
    @State(Scope.Benchmark)
    public static class Direction {
        private Tensor[] pool;
        private int next;

        @Setup(Level.Trial)
        public void setup(Dims dims) {
            try (PointerScope scope = new PointerScope()) {
                torch.manual_seed(4);
                pool = new Tensor[poolSize(1)];
                for (int i = 0; i < pool.length; i++) {
                    pool[i] = keep(torch.randn(dims.m));
                }
            }
        }

        /** The next vector v [m]. */
        public Tensor v() {
            Tensor t = pool[next];
            next = (next + 1) % pool.length;
            return t;
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            for (Tensor t : pool) {
                t.close();
            }
        }
    }
}
