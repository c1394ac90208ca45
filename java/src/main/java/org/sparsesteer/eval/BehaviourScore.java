package org.sparsesteer.eval;

import java.util.ArrayList;
import java.util.List;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Scorer;
import org.sparsesteer.model.Tokenizer;
import org.sparsesteer.steer.PromptFormat;

/**
 * The A/B behaviour score: for each item, p(matching letter) / (p(A) + p(B)) for the token after the
 * prompt and " (", averaged over the items. 0.5 is indifference; 1 always shows the behaviour.
 */
public final class BehaviourScore {
    private final Gemma2 model;
    private final Tokenizer tok;
    private final PromptFormat format;
    private final int batchSize;

    public BehaviourScore(Gemma2 model, Tokenizer tok, PromptFormat format, int batchSize) {
        this.model = model;
        this.tok = tok;
        this.format = format;
        this.batchSize = batchSize;
    }

    /** The token id of a letter as it follows " (" (the last token of " (A"). */
    public int letterToken(String letter) {
        int[] ids = tok.encode(" (" + letter, false);
        int[] open = tok.encode(" (", false);
        if (ids.length != open.length + 1) throw new IllegalArgumentException("the letter '" + letter + "' is not one token after ' ('");
        return ids[ids.length - 1];
    }

    /** Per-item scores under the given hooks (each in [0, 1]), in the order of {@code items}. */
    public double[] itemScores(List<AbItem> items, Hooks hooks, Runnable perItem) {
        double[] out = new double[items.size()];
        int[][] prompts = new int[items.size()][];
        Integer[] order = new Integer[items.size()];
        for (int i = 0; i < prompts.length; i++) {
            prompts[i] = tok.encode(format.prompt(items.get(i).question()) + " (", true);
            order[i] = i;
        }
        // Batches of prompts of similar length: less padding.
        java.util.Arrays.sort(order, (a, b) -> Integer.compare(prompts[a].length, prompts[b].length));
        for (int i = 0; i < order.length; i += batchSize) {
            int n = Math.min(order.length, i + batchSize) - i;
            List<int[]> batch = new ArrayList<>();
            int[][] letters = new int[n][];
            for (int k = 0; k < n; k++) {
                AbItem it = items.get(order[i + k]);
                batch.add(prompts[order[i + k]]);
                letters[k] = new int[] {letterToken(AbItem.letter(it.matching())), letterToken(AbItem.letter(it.notMatching()))};
            }
            // One left-padded batch; score every distinct letter token, then pick each item's two.
            int[] distinct = java.util.Arrays.stream(letters).flatMapToInt(java.util.Arrays::stream).distinct().toArray();
            float[][] lp = Scorer.nextTokenLogProbs(model, batch, distinct, hooks);
            for (int k = 0; k < n; k++) {
                double pm = Math.exp(lp[k][indexOf(distinct, letters[k][0])]), pn = Math.exp(lp[k][indexOf(distinct, letters[k][1])]);
                out[order[i + k]] = pm / (pm + pn);
                perItem.run();
            }
        }
        return out;
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) if (a[i] == v) return i;
        throw new IllegalStateException();
    }

    public double score(List<AbItem> items, Hooks hooks, Runnable perItem) {
        double s = 0;
        for (double v : itemScores(items, hooks, perItem)) s += v;
        return s / items.size();
    }
}
