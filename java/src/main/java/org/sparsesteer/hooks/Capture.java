package org.sparsesteer.hooks;

import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.tensor.Tensors;

/**
 * Captures activations: a float32 CPU copy [batch, T, d] of each named hook point, owned by this
 * object until it is closed. Over several calls (a prefill and decode steps) the captures of a
 * point are concatenated along T.
 */
public final class Capture implements AutoCloseable {
    private final Map<String, Tensor> captured = new LinkedHashMap<>();
    private final Hooks hooks;

    public Capture(String... names) {
        Hooks.Builder b = Hooks.builder();
        for (String n : names) {
            HookPoint p = HookPoint.parse(n);
            b.add(p, (point, act, ctx) -> {
                keep(point.name(), act);
                return null;
            });
        }
        this.hooks = b.build();
    }

    /** The hooks to pass to a forward call. */
    public Hooks hooks() {
        return hooks;
    }

    private synchronized void keep(String name, Tensor act) {
        Tensor copy;
        Tensor prev = captured.get(name);
        try (Tensor f = act.to(ScalarType.Float).cpu()) {
            if (prev == null) {
                copy = f.clone();
            } else {
                try (org.bytedeco.pytorch.TensorVector v = new org.bytedeco.pytorch.TensorVector(prev, f)) {
                    copy = org.bytedeco.pytorch.global.torch.cat(v, 1);
                }
            }
        }
        Tensors.keep(copy);
        if (prev != null) prev.close();
        captured.put(name, copy);
    }

    /** The capture of a hook point: [batch, T, d] float32 on the CPU, owned by this object. */
    public synchronized Tensor get(String name) {
        Tensor t = captured.get(HookPoint.parse(name).name());
        if (t == null) throw new IllegalArgumentException("hook '" + name + "' was not captured (captured: " + captured.keySet() + ")");
        return t;
    }

    public synchronized Map<String, Tensor> all() {
        return Map.copyOf(captured);
    }

    @Override
    public synchronized void close() {
        captured.values().forEach(Tensor::close);
        captured.clear();
    }
}
