package org.sparsesteer.bench;

import static org.sparsesteer.bench.KernelStates.LAMBDA;

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
import org.sparsesteer.bench.KernelStates.Batch;
import org.sparsesteer.bench.KernelStates.Packed;
import org.sparsesteer.bench.KernelStates.Sae;
import org.sparsesteer.bench.KernelStates.Support;
import org.sparsesteer.kernels.Activation;
import org.sparsesteer.kernels.SasKernels;

/**
 * One steering step, x += decode(relu(f + lambda v)) - decode(f) with f the JumpReLU code of x, in place:
 * <ul>
 *   <li>{@code fusedKernel}: sas_steer_fused on the packed support, O(n s d);</li>
 *   <li>{@code denseLibtorch}: what one writes without the kernels, libtorch matmuls over all m features,
 *       {@code f = where(x W_enc + b_enc > threshold, ., 0)}, {@code x += (relu(f + lambda v) - f) W_dec},
 *       O(n m d);</li>
 *   <li>{@code packedLibtorch}: the fused kernel's algorithm as libtorch ops on the same packed tensors, O(n s d).</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0")
public class SteerBench {
    private final Scalar zero = new Scalar(0f);
    private final Scalar lambda = new Scalar(LAMBDA);

    @Benchmark
    public void fusedKernel(Batch batch, Packed packed, Support support) {
        SasKernels.steerFused(batch.x, packed.packed, Activation.JUMPRELU, support.v_S, LAMBDA, null);
    }

    @Benchmark
    public void denseLibtorch(Batch batch, Sae sae, Support support) {
        try (PointerScope scope = new PointerScope()) {
            Tensor pre = batch.x.matmul(sae.W_enc).add_(sae.b_enc);
            Tensor f = pre.where(pre.gt(sae.threshold), zero);
            Tensor c = f.add(support.v, lambda).relu_().sub_(f);
            batch.x.add_(c.matmul(sae.W_dec));
        }
    }

    @Benchmark
    public void packedLibtorch(Batch batch, Packed packed, Support support) {
        try (PointerScope scope = new PointerScope()) {
            Tensor pre = batch.x.matmul(packed.WencS_T).add_(packed.packed.benc_S());
            Tensor f = pre.where(pre.gt(packed.packed.thr_S()), zero);
            Tensor c = f.add(support.v_S, lambda).relu_().sub_(f);
            batch.x.add_(c.matmul(packed.packed.Wdec_S()));
        }
    }
}
