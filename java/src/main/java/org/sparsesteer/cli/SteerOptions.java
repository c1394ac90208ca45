package org.sparsesteer.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.sparsesteer.hooks.HookContext.Positions;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeLoader;
import org.sparsesteer.steer.SparseSteerHook;
import org.sparsesteer.steer.SteeringVector;
import picocli.CommandLine.Option;

/**
 * Steering with one or more SAS vectors: {@code --steer V --scale L} pairs (repeatable, matched in
 * order), each applied with an SAE ({@code --sae} once for all, or once per vector).
 */
final class SteerOptions implements AutoCloseable {
    @Option(names = "--sae", paramLabel = "PATH", description = "SAE: a Gemma Scope params.npz or a SAELens directory (once, or once per --steer).")
    List<Path> saePaths = new ArrayList<>();

    @Option(names = "--hook", paramLabel = "HOOK", description = "The SAE's hook when its files do not say (Gemma Scope npz), e.g. blocks.12.hook_resid_post.")
    String hook;

    @Option(names = "--steer", paramLabel = "VEC", description = "A steering vector (.safetensors from `sas build`); repeatable.")
    List<Path> vectors = new ArrayList<>();

    @Option(names = "--scale", paramLabel = "L", description = "lambda for the --steer of the same position; repeatable.")
    List<Double> scales = new ArrayList<>();

    @Option(names = "--positions", defaultValue = "all", paramLabel = "P", description = "Steered positions: all or generated (default: ${DEFAULT-VALUE}).")
    String positions;

    @Option(names = "--dense", description = "Use the dense reference path (all SAE features) instead of the sparse-support one.")
    boolean dense;

    private final List<Sae> saes = new ArrayList<>();
    private final List<SparseSteerHook> hooks = new ArrayList<>();

    boolean active() {
        return !vectors.isEmpty();
    }

    Positions positions() {
        return switch (positions) {
            case "all" -> Positions.ALL;
            case "generated" -> Positions.GENERATED;
            default -> throw new IllegalArgumentException("--positions must be all or generated, got '" + positions + "'");
        };
    }

    /** Checks the options' counts before anything is loaded. */
    void validate() {
        if (vectors.size() != scales.size()) {
            throw new IllegalArgumentException(vectors.size() + " --steer but " + scales.size() + " --scale: give one --scale per --steer");
        }
        if (!vectors.isEmpty() && saePaths.isEmpty()) throw new IllegalArgumentException("--steer needs --sae");
        if (saePaths.size() > 1 && saePaths.size() != vectors.size()) {
            throw new IllegalArgumentException(saePaths.size() + " --sae for " + vectors.size() + " --steer: give one, or one per --steer");
        }
        positions();
    }

    List<Sae> loadSaes(Gemma2 model) {
        for (Path p : saePaths) {
            saes.add(SaeLoader.loadFor(model, p, hook));
        }
        return saes;
    }

    /** The hooks for the given scales multiplier (1 = as given, -1 = opposite, 0 = none). */
    Hooks build(Gemma2 model, double sign) {
        validate();
        if (saes.isEmpty()) loadSaes(model);
        Hooks all = Hooks.NONE;
        for (int i = 0; i < vectors.size(); i++) {
            Sae sae = saes.get(saes.size() == 1 ? 0 : i);
            SteeringVector v = SteeringVector.read(vectors.get(i));
            v.checkFor(sae, vectors.get(i).toString());
            SparseSteerHook h = new SparseSteerHook(sae, v, sign * scales.get(i), positions(), dense ? SparseSteerHook.Mode.DENSE : SparseSteerHook.Mode.FUSED);
            hooks.add(h);
            all = all.and(h.hooks());
        }
        return all;
    }

    @Override
    public void close() {
        hooks.forEach(SparseSteerHook::close);
        saes.forEach(Sae::close);
    }
}
