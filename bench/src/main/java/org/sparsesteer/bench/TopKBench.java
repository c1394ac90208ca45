package org.sparsesteer.bench;

import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.T_TensorTensor_T;
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
import org.sparsesteer.bench.KernelStates.Direction;
import org.sparsesteer.bench.KernelStates.Scores;
import org.sparsesteer.bench.KernelStates.Support;
import org.sparsesteer.kernels.SasKernels;

/**
 * Top-k feature selection (k = s): per row of [n, m] scores, and by |v| of one vector [m]; kernel vs torch.topk.
 * Each call takes the next of a few distinct inputs (KernelStates.poolSize), the same sequence on both sides.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0")
public class TopKBench {
    @Benchmark
    public void rowsKernel(Scores scores, Support k, Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            bh.consume(SasKernels.topkRows(scores.rows(), k.s));
        }
    }

    @Benchmark
    public void rowsLibtorch(Scores scores, Support k, Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            bh.consume(scores.rows().topk(k.s, 1, true, true));
        }
    }

    @Benchmark
    public void absKernel(Direction direction, Support k, Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            bh.consume(SasKernels.topkAbs(direction.v(), k.s));
        }
    }

    @Benchmark
    public void absLibtorch(Direction direction, Support k, Blackhole bh) {
        try (PointerScope scope = new PointerScope()) {
            Tensor v = direction.v();
            T_TensorTensor_T top = v.abs().topk(k.s, 0, true, true);
            bh.consume(v.index_select(0, top.get1()));
        }
    }
}
