package org.sparsesteer.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;
import org.bytedeco.pytorch.Device;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.model.Gemma2Config;
import org.sparsesteer.sae.SaeConfig.Architecture;

/**
 * What to train and how. Fluent setters with defaults; {@link #validate} checks everything against
 * the model before any activation is computed. Error messages name the CLI option
 * ({@code --width}, {@code --k}, ...) since that is where most values come from.
 *
 * <p>Defaults follow the published recipes where they apply to any model: Gemma Scope's JumpReLU
 * bandwidth and initial threshold (0.001, in units where E||x||^2 = d_in), OpenAI's AuxK
 * coefficient (1/32) for TopK.
 */
public final class SaeTrainingOptions {
    String hook;
    Architecture architecture = Architecture.TOPK;
    int width;
    int k;
    double l0Coefficient = 1e-3;
    double l1Coefficient = 1e-3;
    double lr = 3e-4;
    int batchSize = 1024;
    long steps;
    double epochs;
    long seed;
    int contextSize = 128;
    int bufferBatches = 16;
    double evalFraction = 0.1;
    int maxEvalRows = 8192;
    double bandwidth = 1e-3;
    double initThreshold = 1e-3;
    double auxKCoefficient = 1.0 / 32;
    /** A feature counts as dead for AuxK when it has not fired on this many of the latest training rows. */
    long deadAfterRows = 1_000_000;
    boolean excludeBos = true;
    Device device;
    String modelName;

    public SaeTrainingOptions hook(String v) { hook = v; return this; }
    public SaeTrainingOptions architecture(Architecture v) { architecture = v; return this; }
    /** topk, jumprelu or standard (SAELens' names). */
    public SaeTrainingOptions architecture(String v) { architecture = parseArchitecture(v); return this; }
    public SaeTrainingOptions width(int v) { width = v; return this; }
    public SaeTrainingOptions k(int v) { k = v; return this; }
    public SaeTrainingOptions l0Coefficient(double v) { l0Coefficient = v; return this; }
    public SaeTrainingOptions l1Coefficient(double v) { l1Coefficient = v; return this; }
    public SaeTrainingOptions lr(double v) { lr = v; return this; }
    public SaeTrainingOptions batchSize(int v) { batchSize = v; return this; }
    /** Optimiser steps; 0 to derive them from {@link #epochs}. */
    public SaeTrainingOptions steps(long v) { steps = v; return this; }
    /** Passes over the training rows, used when steps is 0. */
    public SaeTrainingOptions epochs(double v) { epochs = v; return this; }
    public SaeTrainingOptions seed(long v) { seed = v; return this; }
    /** Longer texts are cut into windows of this many tokens (each later window starts with a fresh BOS). */
    public SaeTrainingOptions contextSize(int v) { contextSize = v; return this; }
    /** The shuffle buffer holds this many batches of rows. */
    public SaeTrainingOptions bufferBatches(int v) { bufferBatches = v; return this; }
    /** Fraction of the texts held out for evaluation (at least one text). */
    public SaeTrainingOptions evalFraction(double v) { evalFraction = v; return this; }
    public SaeTrainingOptions maxEvalRows(int v) { maxEvalRows = v; return this; }
    public SaeTrainingOptions bandwidth(double v) { bandwidth = v; return this; }
    public SaeTrainingOptions initThreshold(double v) { initThreshold = v; return this; }
    /** 0 turns AuxK off. */
    public SaeTrainingOptions auxKCoefficient(double v) { auxKCoefficient = v; return this; }
    public SaeTrainingOptions deadAfterRows(long v) { deadAfterRows = v; return this; }
    /** BOS activations are outliers of huge norm in Gemma; Gemma Scope trains without them. */
    public SaeTrainingOptions excludeBos(boolean v) { excludeBos = v; return this; }
    /** Where the SAE trains; null (default) for the model's device. */
    public SaeTrainingOptions device(Device v) { device = v; return this; }
    /** Recorded as cfg.json's model_name (e.g. the model directory). */
    public SaeTrainingOptions modelName(String v) { modelName = v; return this; }

    public String hook() { return hook; }
    public Architecture architecture() { return architecture; }
    public int width() { return width; }
    public int k() { return k; }
    public long seed() { return seed; }

    /** The options as recorded in cfg.json's {@code training} object. */
    public ObjectNode toJson() {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("architecture", architecture.saeLensName);
        o.put("width", width);
        if (architecture == Architecture.TOPK) {
            o.put("k", k);
            o.put("aux_k_coefficient", auxKCoefficient);
            o.put("dead_after_rows", deadAfterRows);
        }
        if (architecture == Architecture.JUMPRELU) {
            o.put("l0_coefficient", l0Coefficient);
            o.put("bandwidth", bandwidth);
            o.put("init_threshold", initThreshold);
        }
        if (architecture == Architecture.RELU) o.put("l1_coefficient", l1Coefficient);
        o.put("lr", lr);
        o.put("optimizer", "adam");
        o.put("batch_size", batchSize);
        if (steps > 0) o.put("steps_requested", steps);
        else o.put("epochs_requested", epochs);
        o.put("seed", seed);
        o.put("context_size", contextSize);
        o.put("buffer_rows", (long) batchSize * bufferBatches);
        o.put("eval_fraction", evalFraction);
        o.put("exclude_bos", excludeBos);
        return o;
    }

    public static Architecture parseArchitecture(String name) {
        String n = name == null ? "" : name.toLowerCase(Locale.ROOT);
        return switch (n) {
            case "topk" -> Architecture.TOPK;
            case "jumprelu" -> Architecture.JUMPRELU;
            case "standard", "relu" -> Architecture.RELU;
            default -> throw new IllegalArgumentException("--architecture must be topk, jumprelu or standard, got '" + name + "'");
        };
    }

    /** Throws IllegalArgumentException naming the first bad option. */
    public void validate(Gemma2Config model) {
        if (hook == null) throw new IllegalArgumentException("--hook is required (e.g. blocks.2.hook_resid_post)");
        HookPoint p;
        try {
            p = HookPoint.parse(hook);
            p.checkExists(model.numLayers());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--hook: " + e.getMessage(), e);
        }
        if (architecture == null) throw new IllegalArgumentException("--architecture is required (topk, jumprelu or standard)");
        if (width < 1) throw new IllegalArgumentException("--width must be >= 1, got " + width);
        if (architecture == Architecture.TOPK && (k < 1 || k > width)) {
            throw new IllegalArgumentException("--k must be in [1, --width] = [1, " + width + "] for a topk SAE, got " + k);
        }
        if (architecture != Architecture.TOPK && k != 0) {
            throw new IllegalArgumentException("--k applies to topk SAEs only (this is " + architecture.saeLensName + ")");
        }
        positive("--l0-coefficient", l0Coefficient, architecture == Architecture.JUMPRELU);
        positive("--l1-coefficient", l1Coefficient, architecture == Architecture.RELU);
        positive("--lr", lr, true);
        if (batchSize < 1) throw new IllegalArgumentException("--batch-size must be >= 1, got " + batchSize);
        if (steps < 0) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
        if (steps == 0 && !(epochs > 0)) throw new IllegalArgumentException("give --steps or --epochs (> 0)");
        if (contextSize < 2) throw new IllegalArgumentException("--context-size must be >= 2, got " + contextSize);
        if (bufferBatches < 1) throw new IllegalArgumentException("buffer must hold at least one batch, got " + bufferBatches);
        if (!(evalFraction > 0 && evalFraction < 1)) throw new IllegalArgumentException("--eval-fraction must be in (0, 1), got " + evalFraction);
        if (maxEvalRows < 1) throw new IllegalArgumentException("--eval-rows must be >= 1, got " + maxEvalRows);
        positive("--bandwidth", bandwidth, architecture == Architecture.JUMPRELU);
        positive("--init-threshold", initThreshold, architecture == Architecture.JUMPRELU);
        if (!(auxKCoefficient >= 0)) throw new IllegalArgumentException("AuxK coefficient must be >= 0, got " + auxKCoefficient);
        if (deadAfterRows < 1) throw new IllegalArgumentException("dead-after rows must be >= 1, got " + deadAfterRows);
    }

    private static void positive(String name, double v, boolean applies) {
        if (applies && !(v > 0 && Double.isFinite(v))) throw new IllegalArgumentException(name + " must be > 0, got " + v);
    }
}
