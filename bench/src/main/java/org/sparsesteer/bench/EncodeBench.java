package org.sparsesteer.bench;

import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;
import org.sparsesteer.bench.KernelStates.Batch;
import org.sparsesteer.bench.KernelStates.Sae;
import org.sparsesteer.bench.KernelStates.Support;
import org.sparsesteer.kernels.Activation;
import org.sparsesteer.kernels.SasKernels;
import org.sparsesteer.kernels.SparseCode;

/** JumpReLU SAE encode: dense [n, m], sparse per row, and restricted to a subset S; kernel vs libtorch. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0")
public class EncodeBench {
    private final Scalar zero = new Scalar(0f);

    @Benchmark
    public void denseKernel(Batch batch, Sae sae, Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            bh.consume(SasKernels.encodeDense(batch.x, sae.W_enc, sae.b_enc, sae.threshold, Activation.JUMPRELU, 0));
        }
    }

    @Benchmark
    public void denseLibtorch(Batch batch, Sae sae, Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            Tensor pre = batch.x.matmul(sae.W_enc).add_(sae.b_enc);
            bh.consume(pre.where(pre.gt(sae.threshold), zero));
        }
    }

    /** Sparse code per row; the buffer starts at m / 16 slots (retried wider if a row has more). */
    @Benchmark
    public void sparseKernel(Batch batch, Sae sae, Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            int maxNnz = (int) Math.min(sae.W_enc.size(1), Math.max(64, sae.W_enc.size(1) / 16));
            SparseCode code = SasKernels.encodeSparse(batch.x, sae.W_enc, sae.b_enc, sae.threshold,
                    Activation.JUMPRELU, 0, maxNnz);
            bh.consume(code);
        }
    }

    /** The same job in libtorch: dense pre-activations, then the active (index, value) pairs and row counts. */
    @Benchmark
    public void sparseLibtorch(Batch batch, Sae sae, Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            Tensor pre = batch.x.matmul(sae.W_enc).add_(sae.b_enc);
            Tensor active = pre.gt(sae.threshold);
            bh.consume(active.nonzero());
            bh.consume(pre.masked_select(active));
            bh.consume(active.sum(1));
        }
    }

    @Benchmark
    public void subsetKernel(Batch batch, Sae sae, Support support, Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            bh.consume(SasKernels.encodeSubset(batch.x, sae.W_enc, sae.b_enc, sae.threshold, Activation.JUMPRELU,
                    support.S));
        }
    }

    @Benchmark
    public void subsetLibtorch(Batch batch, Sae sae, Support support, Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            Tensor pre = batch.x.matmul(sae.W_enc.index_select(1, support.S)).add_(sae.b_enc.index_select(0, support.S));
            bh.consume(pre.where(pre.gt(sae.threshold.index_select(0, support.S)), zero));
        }
    }
}
