package org.sparsesteer.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.DoubleSupplier;

/**
 * Overheads of a few percent or less, measured as paired ratios: on a shared machine the load drifts
 * by tens of percent between JMH iterations, which hides a 1% effect. Here the variants run
 * alternately, step by step, in ABBA order (cancelling linear drift), and the report is the median of
 * the per-round ratios variant / baseline with a bootstrap 95% interval.
 *
 * <pre>java -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -cp bench/target/benchmarks.jar \
 *     org.sparsesteer.bench.PairedOverhead [rounds] [shapes]</pre>
 */
public final class PairedOverhead {
    private PairedOverhead() {}

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        String shapes = args.length > 1 ? args[1] : "2b";
        EngineBench engine = new EngineBench();
        engine.prompt = 64;
        engine.shapes = shapes;
        engine.setUp();
        try {
            report("decode, no-op hook on every layer vs no hooks", rounds, engine::decode, engine::decodeNoOpHooks);
        } finally {
            engine.tearDown();
        }
        SteeringOverheadBench steer = new SteeringOverheadBench();
        steer.shapes = shapes;
        steer.width = 16384;
        steer.support = 64;
        steer.setUp();
        try {
            report("decode, fused SAS steering (|S| = 64, m = 16384) vs unsteered", rounds, steer::unsteered, steer::fusedSteering);
            report("decode, dense SAE hook (all 16384 features) vs unsteered", rounds, steer::unsteered, steer::denseSaeHook);
        } finally {
            steer.tearDown();
        }
    }

    private static double time(DoubleSupplier step) {
        long t0 = System.nanoTime();
        double sink = step.getAsDouble();
        long t = System.nanoTime() - t0;
        if (Double.isNaN(sink)) System.out.print("");
        return t / 1e6;
    }

    static void report(String what, int rounds, DoubleSupplier baseline, DoubleSupplier variant) {
        for (int i = 0; i < 2; i++) {
            baseline.getAsDouble();
            variant.getAsDouble();
        }
        double[] ratio = new double[rounds];
        List<Double> base = new ArrayList<>(), var = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            double a1 = time(baseline), b1 = time(variant), b2 = time(variant), a2 = time(baseline);
            ratio[r] = (b1 + b2) / (a1 + a2);
            base.add((a1 + a2) / 2);
            var.add((b1 + b2) / 2);
        }
        double med = median(ratio);
        Random rng = new Random(1);
        double[] boot = new double[2000];
        for (int b = 0; b < boot.length; b++) {
            double[] s = new double[rounds];
            for (int i = 0; i < rounds; i++) s[i] = ratio[rng.nextInt(rounds)];
            boot[b] = median(s);
        }
        Arrays.sort(boot);
        System.out.printf("%s: baseline median %.1f ms, variant median %.1f ms; ratio %.4f (95%% CI %.4f-%.4f), overhead %+.2f%% over %d ABBA rounds%n",
                what, median(base.stream().mapToDouble(Double::doubleValue).toArray()), median(var.stream().mapToDouble(Double::doubleValue).toArray()),
                med, boot[50], boot[1949], (med - 1) * 100, rounds);
    }

    private static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
}
