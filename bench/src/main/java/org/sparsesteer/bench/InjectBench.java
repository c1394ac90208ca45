package org.sparsesteer.bench;

import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
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
import org.sparsesteer.bench.KernelStates.Injection;
import org.sparsesteer.bench.KernelStates.Sae;
import org.sparsesteer.bench.KernelStates.Support;
import org.sparsesteer.kernels.PackedSupport;
import org.sparsesteer.kernels.SasKernels;

/**
 * Decoder-projected injection, x[r] += sum_j coeffs[r, j] W_dec[indices[r, j]] with s features per row, in place
 * (kernel vs index_select + matmul + add_); and packing a support (once per steering vector).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0")
public class InjectBench {
    @Benchmark
    public void injectKernel(Batch batch, Sae sae, Injection inj) {
        SasKernels.inject(batch.x, sae.W_dec, inj.indices, inj.coeffs);
    }

    @Benchmark
    public void injectLibtorch(Batch batch, Sae sae, Injection inj) {
        try (PointerScope scope = new PointerScope()) {
            long n = inj.indices.size(0);
            long s = inj.indices.size(1);
            Tensor rows = sae.W_dec.index_select(0, inj.indices.view(-1)).view(n, s, -1);
            batch.x.add_(inj.coeffs.unsqueeze(1).bmm(rows).squeeze(1));
        }
    }

    @Benchmark
    public void packKernel(Sae sae, Support support, Blackhole bh) {
        try (PackedSupport p = SasKernels.packSupport(sae.W_enc, sae.b_enc, sae.threshold, sae.W_dec, support.S)) {
            bh.consume(p);
        }
    }

    @Benchmark
    public void packLibtorch(Sae sae, Support support, Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            bh.consume(sae.W_enc.index_select(1, support.S).t().contiguous());
            bh.consume(sae.b_enc.index_select(0, support.S));
            bh.consume(sae.threshold.index_select(0, support.S));
            bh.consume(sae.W_dec.index_select(0, support.S));
        }
    }
}
