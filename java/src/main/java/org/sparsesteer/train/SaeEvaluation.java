package org.sparsesteer.train;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarTypeOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.sae.Sae;

/**
 * How well an SAE reconstructs held-out activation rows, measured with the {@link Sae} itself (the
 * artefact that is saved, not the training module):
 *
 * @param explainedVariance 1 - sum ||x - x^||^2 / sum ||x - mean x||^2 over the rows
 * @param meanL0 mean number of active features per row
 * @param deadFeatures features active on none of the rows
 */
public record SaeEvaluation(int rows, double explainedVariance, double meanL0, int deadFeatures) {
    /** Evaluates on rows x [n, d] (any device), {@code chunk} rows at a time. */
    public static SaeEvaluation of(Sae sae, Tensor x, int chunk) {
        long n = x.size(0);
        if (n == 0) throw new IllegalArgumentException("no evaluation rows");
        try (PointerScope s = new PointerScope(); NoGradGuard ng = new NoGradGuard()) {
            Tensor rows = x.to(sae.wEnc().device(), ScalarType.Float);
            Tensor mean = rows.mean(0);
            Tensor fired = torch.zeros(new long[] {sae.width()}, new TensorOptions(ScalarType.Bool)).to(rows.device(), ScalarType.Bool);
            ScalarTypeOptional f64 = new ScalarTypeOptional(ScalarType.Double);
            double sse = 0, sst = 0, active = 0;
            for (long first = 0; first < n; first += chunk) {
                Tensor xc = rows.narrow(0, first, Math.min(chunk, n - first));
                // encode/decode hand over tensors they kept, which this scope does not own
                try (Tensor f = sae.encode(xc); Tensor xHat = sae.decode(f)) {
                    Tensor on = f.gt(new Scalar(0));
                    sse += xc.sub(xHat).pow(new Scalar(2)).sum(f64).item_double();
                    sst += xc.sub(mean).pow(new Scalar(2)).sum(f64).item_double();
                    active += on.sum(f64).item_double();
                    fired = fired.logical_or(on.any(0));
                }
            }
            int dead = (int) (sae.width() - fired.sum().item_long());
            double ev = sst > 0 ? 1 - sse / sst : Double.NaN;
            return new SaeEvaluation((int) n, ev, active / n, dead);
        }
    }
}
