package org.sparsesteer.model;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.tensor.Tensors;

/**
 * Batched generation with a KV cache: one prefill over the left-padded prompts, then one token per
 * step. Each step runs in its own scope, so a long generation does not grow memory.
 */
public final class Generator {
    private Generator() {}

    /** The new tokens of each row (a row stops at its first stop token, which is not included). */
    public static List<int[]> generate(Gemma2 model, List<int[]> prompts, GenerationConfig cfg, Hooks hooks) {
        TokenBatch batch = TokenBatch.leftPadded(prompts, model.config().padTokenId());
        int B = batch.size(), P = batch.length();
        List<List<Integer>> out = new ArrayList<>();
        for (int b = 0; b < B; b++) out.add(new ArrayList<>());
        if (cfg.maxNewTokens() == 0) return toArrays(out);
        Sampler sampler = new Sampler(cfg);
        boolean[] done = new boolean[B];
        try (KvCache cache = model.newCache(B, P + cfg.maxNewTokens())) {
            TokenBatch step = batch;
            for (int i = 0; i < cfg.maxNewTokens(); i++) {
                long[] next = new long[B];
                try (PointerScope scope = new PointerScope()) {
                    Tensor logits = model.forward(step, P, cache, hooks, true); // [B, 1, vocab]
                    Tensor last = logits.select(1, 0).cpu();
                    logits.close();
                    for (int b = 0; b < B; b++) {
                        if (done[b]) {
                            next[b] = model.config().padTokenId();
                            continue;
                        }
                        int tok = sampler.next(Tensors.toFloats(last.select(0, b)));
                        if (cfg.stopTokens().contains(tok)) {
                            done[b] = true;
                            next[b] = tok;
                        } else {
                            out.get(b).add(tok);
                            next[b] = tok;
                        }
                    }
                }
                boolean all = true;
                for (boolean d : done) all &= d;
                if (all || i == cfg.maxNewTokens() - 1) break;
                long[][] ids = new long[B][1];
                for (int b = 0; b < B; b++) ids[b][0] = next[b];
                step = new TokenBatch(ids, batch.padLeft(), 1);
            }
        }
        return toArrays(out);
    }

    public static int[] generate(Gemma2 model, int[] prompt, GenerationConfig cfg, Hooks hooks) {
        return generate(model, List.of(prompt), cfg, hooks).get(0);
    }

    private static List<int[]> toArrays(List<List<Integer>> rows) {
        List<int[]> r = new ArrayList<>();
        for (List<Integer> l : rows) r.add(l.stream().mapToInt(Integer::intValue).toArray());
        return r;
    }
}
