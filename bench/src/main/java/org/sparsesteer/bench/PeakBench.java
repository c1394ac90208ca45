package org.sparsesteer.bench;

import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The peak memory bandwidth the kernel benchmarks are set against, measured in the same JMH run: a plain copy of
 * 256 MiB of f32 ({@code dst.copy_(src)}, libtorch's copy kernel, read + write counted), as sas_bench does on the
 * CPU. {@code bench/jmh_report.py} turns every kernel's time into GB/s and % of this peak.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0")
public class PeakBench {
    /** Elements copied: 64 Mi floats = 256 MiB, far over this machine's caches. */
    public static final long COPY_ELEMENTS = 64L << 20;

    private Tensor src;
    private Tensor dst;

    @Setup(Level.Trial)
    public void setup() {
        try (PointerScope scope = new PointerScope()) {
            String n = System.getProperty("sas.bench.torchThreads");
            if (n != null && !n.isBlank()) {
                torch.set_num_threads(Integer.parseInt(n.trim()));
            }
            src = KernelStates.keep(torch.rand(COPY_ELEMENTS));
            dst = KernelStates.keep(torch.zeros(COPY_ELEMENTS));
        }
    }

    @Benchmark
    public void copy() {
        dst.copy_(src);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        src.close();
        dst.close();
    }
}
