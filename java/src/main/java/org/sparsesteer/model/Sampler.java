package org.sparsesteer.model;

import java.util.Arrays;
import java.util.Random;

/** Picks the next token from one row of logits, on the host, deterministically for a seed. */
final class Sampler {
    private final GenerationConfig cfg;
    private final Random random;

    Sampler(GenerationConfig cfg) {
        this.cfg = cfg;
        this.random = new Random(cfg.seed());
    }

    int next(float[] logits) {
        if (cfg.temperature() == 0) return argmax(logits);
        int n = logits.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        // Descending by logit, ties by lower id: a total order, so results do not depend on the sort.
        Arrays.sort(order, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
        int keep = cfg.topK() > 0 ? Math.min(cfg.topK(), n) : n;
        double max = logits[order[0]] / cfg.temperature();
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp(logits[order[i]] / cfg.temperature() - max);
            sum += p[i];
        }
        if (cfg.topP() < 1) {
            double cum = 0;
            int cut = keep;
            for (int i = 0; i < keep; i++) {
                cum += p[i] / sum;
                if (cum >= cfg.topP()) {
                    cut = i + 1;
                    break;
                }
            }
            keep = cut;
            sum = 0;
            for (int i = 0; i < keep; i++) sum += p[i];
        }
        double u = random.nextDouble() * sum;
        for (int i = 0; i < keep; i++) {
            u -= p[i];
            if (u < 0) return order[i];
        }
        return order[keep - 1];
    }

    static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}
