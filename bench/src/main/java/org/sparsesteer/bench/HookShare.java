package org.sparsesteer.bench;

import org.bytedeco.pytorch.Tensor;
import org.sparsesteer.hooks.Hook;
import org.sparsesteer.hooks.HookContext;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.steer.SparseSteerHook;

/**
 * The share of a decode step spent inside a steering hook, timed within the same steps (so the
 * machine's load affects both sides alike): sum of hook time / sum of step time over N steps.
 * Complements {@link PairedOverhead} where the load is too noisy for end-to-end ratios.
 *
 * <pre>java -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -cp bench/target/benchmarks.jar \
 *     org.sparsesteer.bench.HookShare [steps] [shapes]</pre>
 */
public final class HookShare {
    private HookShare() {}

    /** Wraps a hook and accumulates the nanoseconds spent in it. */
    static final class Timed implements Hook {
        final Hook inner;
        long nanos;

        Timed(Hook inner) {
            this.inner = inner;
        }

        @Override
        public Tensor apply(HookPoint point, Tensor activation, HookContext context) {
            long t0 = System.nanoTime();
            Tensor r = inner.apply(point, activation, context);
            nanos += System.nanoTime() - t0;
            return r;
        }
    }

    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        String shapes = args.length > 1 ? args[1] : "2b";
        if (args.length > 2 && args[2].equals("noop")) {
            noOpHooks(steps, shapes);
            return;
        }
        SteeringOverheadBench b = new SteeringOverheadBench();
        b.shapes = shapes;
        b.width = 16384;
        b.support = 64;
        b.setUp();
        try {
            measure("fused SAS steering (|S| = 64, m = 16384)", b, b.fused, steps);
            measure("dense SAE hook (all 16384 features)", b, b.dense, steps);
        } finally {
            b.tearDown();
        }
    }

    /** A timed no-op hook on every layer's resid_post: what the hook machinery costs per step. */
    private static void noOpHooks(int steps, String shapes) {
        EngineBench e = new EngineBench();
        e.prompt = 64;
        e.shapes = shapes;
        e.setUp();
        try {
            int layers = e.model.config().numLayers();
            Timed[] timed = new Timed[layers];
            Hooks.Builder hb = Hooks.builder();
            for (int l = 0; l < layers; l++) {
                timed[l] = new Timed((p, a, c) -> null);
                hb.add("blocks." + l + ".hook_resid_post", timed[l]);
            }
            e.noOp = hb.build();
            e.decodeNoOpHooks(); // warm-up
            for (Timed t : timed) t.nanos = 0;
            long total = 0;
            for (int i = 0; i < steps; i++) {
                long t0 = System.nanoTime();
                e.decodeNoOpHooks();
                total += System.nanoTime() - t0;
            }
            long inHooks = 0;
            for (Timed t : timed) inHooks += t.nanos;
            System.out.printf("no-op hooks on %d layers: %.4f ms in the hooks per step, %.1f ms per step: %.5f%% of the step (%d steps)%n",
                    layers, inHooks / 1e6 / steps, total / 1e6 / steps, 100.0 * inHooks / total, steps);
        } finally {
            e.tearDown();
        }
    }

    private static void measure(String what, SteeringOverheadBench b, SparseSteerHook hook, int steps) {
        Timed timed = new Timed(hook);
        Hooks hooks = Hooks.of(hook.point().name(), timed);
        b.decodeWith(hooks); // warm-up
        timed.nanos = 0;
        long total = 0;
        for (int i = 0; i < steps; i++) {
            long t0 = System.nanoTime();
            b.decodeWith(hooks);
            total += System.nanoTime() - t0;
        }
        System.out.printf("%s: %.3f ms in the hook per step, %.1f ms per step: %.4f%% of the step (%d steps)%n",
                what, timed.nanos / 1e6 / steps, total / 1e6 / steps, 100.0 * timed.nanos / total, steps);
    }
}
