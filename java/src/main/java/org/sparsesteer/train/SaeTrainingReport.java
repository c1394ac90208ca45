package org.sparsesteer.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;

/**
 * What a training run did and how good the result is.
 *
 * @param losses the training objective of every step (reconstruction + sparsity penalty, in the
 *     scaled units E||x||^2 = d_in; AuxK, a helper term, is not included)
 * @param l0s the mean L0 of every step's batch
 * @param finalLoss the mean objective over the last 5% of steps (at least one), less noisy than the last
 * @param scale the factor c applied to activations during training (folded out of the saved SAE)
 * @param eval held-out metrics of the saved SAE
 */
public record SaeTrainingReport(String architecture, String hook, int dIn, int width, int k, long steps, int batchSize,
                                long rowsSeen, long trainRows, double scale, float[] losses, float[] l0s, double finalLoss,
                                SaeEvaluation eval, double seconds) {
    public double epochs() {
        return (double) rowsSeen / trainRows;
    }

    /** Mean of losses[from, to). */
    public double meanLoss(int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) s += losses[i];
        return s / (to - from);
    }

    /** The metrics (no per-step curves) for cfg.json's {@code training} object. */
    public ObjectNode toJson() {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("steps", steps);
        o.put("rows_seen", rowsSeen);
        o.put("train_rows_per_epoch", trainRows);
        o.put("epochs", epochs());
        o.put("activation_scale", scale);
        o.put("first_loss", losses.length == 0 ? Double.NaN : losses[0]);
        o.put("final_loss", finalLoss);
        o.put("eval_rows", eval.rows());
        o.put("explained_variance", eval.explainedVariance());
        o.put("mean_l0", eval.meanL0());
        o.put("dead_features", eval.deadFeatures());
        o.put("seconds", seconds);
        return o;
    }

    public String summary() {
        return String.format(Locale.ROOT,
                "%s SAE, width %d%s, at %s: %d steps x %d rows (%.2f epochs of %d rows) in %.1fs%n"
                        + "  final loss %.5g (first %.5g)%n"
                        + "  held-out (%d rows): explained variance %.4f, mean L0 %.2f, dead features %d/%d",
                architecture, width, k > 0 ? ", k " + k : "", hook, steps, batchSize, epochs(), trainRows, seconds,
                finalLoss, losses.length == 0 ? Double.NaN : losses[0], eval.rows(), eval.explainedVariance(), eval.meanL0(),
                eval.deadFeatures(), width);
    }
}
