package org.sparsesteer.steer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.sparsesteer.hooks.Hook;
import org.sparsesteer.hooks.HookContext;
import org.sparsesteer.hooks.HookContext.Positions;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.io.SafetensorsFile;
import org.sparsesteer.io.SafetensorsWriter;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.sae.SaeException;
import org.sparsesteer.tensor.Tensors;

/**
 * The dense contrastive activation addition (CAA) baseline: v = mean of x over the positives minus
 * the mean over the negatives (last token, at a hook), added as x + lambda v. Stored as safetensors
 * with {@code vector} F32 [d] and metadata (method=caa, hook, pairs, ...).
 */
public record CaaVector(float[] vector, Map<String, String> metadata) {
    public CaaVector {
        metadata = Map.copyOf(metadata);
    }

    public String hook() {
        return metadata.get("hook");
    }

    public static CaaVector build(Gemma2 model, String hook, List<ContrastivePair> pairs, int batchSize, IntConsumer progress) {
        if (pairs.isEmpty()) throw new IllegalArgumentException("no contrastive pairs");
        HookPoint p = HookPoint.parse(hook);
        p.checkExists(model.config().numLayers());
        List<int[]> pos = pairs.stream().map(ContrastivePair::positive).toList();
        List<int[]> neg = pairs.stream().map(ContrastivePair::negative).toList();
        try (Tensor xp = SasBuilder.lastTokenActivations(model, p, pos, batchSize, progress);
             Tensor xn = SasBuilder.lastTokenActivations(model, p, neg, batchSize, progress)) {
            return fromActivations(xp, xn, p.name());
        }
    }

    /** The vector from last-token activations [N, d] of the positives and the negatives at {@code hook}. */
    public static CaaVector fromActivations(Tensor positive, Tensor negative, String hook) {
        if (positive.size(0) == 0 || positive.size(0) != negative.size(0)) {
            throw new IllegalArgumentException("need as many positive as negative activations (and some), got "
                    + positive.size(0) + " and " + negative.size(0));
        }
        float[] v;
        try (PointerScope s = new PointerScope()) {
            v = Tensors.toFloats(positive.mean(new long[] {0}, false, new org.bytedeco.pytorch.ScalarTypeOptional())
                    .sub(negative.mean(new long[] {0}, false, new org.bytedeco.pytorch.ScalarTypeOptional())));
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("method", "caa");
        meta.put("hook", HookPoint.parse(hook).name());
        meta.put("pairs", Long.toString(positive.size(0)));
        meta.put("tool_version", Version.get());
        return new CaaVector(v, meta);
    }

    public void write(Path file) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter().addFloats("vector", vector, vector.length);
        metadata.forEach(w::metadata);
        w.write(file);
    }

    public static CaaVector read(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            if (!f.contains("vector")) throw new SaeException(file + ": not a CAA vector: no 'vector' tensor");
            return new CaaVector(f.readFloats("vector"), new LinkedHashMap<>(f.metadata()));
        }
    }

    /** A hook adding lambda v at the selected positions. */
    public Hooks hooks(double lambda, Positions positions) {
        Tensor v = Tensors.fromFloats(vector, vector.length);
        Hook h = new Hook() {
            @Override
            public Tensor apply(HookPoint point, Tensor x, HookContext ctx) {
                if (lambda == 0 || !ctx.any(positions)) return null;
                if (x.size(2) != vector.length) {
                    throw new IllegalArgumentException("CAA vector has " + vector.length + " entries but the activation has d = " + x.size(2));
                }
                Tensor add;
                try (PointerScope s = new PointerScope()) {
                    Tensor mask = ctx.mask(positions).to(x.device(), x.scalar_type()).view(x.size(0), x.size(1), 1);
                    add = Tensors.keep(mask.mul(v.to(x.device(), x.scalar_type()).mul(new Scalar(lambda)).view(1, 1, -1)));
                }
                try (add) {
                    return x.add(add);
                }
            }
        };
        return Hooks.of(hook(), h);
    }
}
