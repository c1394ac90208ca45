package org.sparsesteer.model;

import java.util.Set;

/**
 * How to pick tokens. temperature 0 is greedy (ties to the lower id); otherwise logits / temperature,
 * then top-k (0 = off), then top-p nucleus (1 = off), sampled with a seeded generator, so the same
 * seed gives the same tokens.
 */
public record GenerationConfig(int maxNewTokens, double temperature, int topK, double topP, long seed, Set<Integer> stopTokens) {
    public GenerationConfig {
        if (maxNewTokens < 0) throw new IllegalArgumentException("max new tokens must be >= 0, got " + maxNewTokens);
        if (!(temperature >= 0)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        stopTokens = Set.copyOf(stopTokens);
    }

    public static GenerationConfig greedy(int maxNewTokens) {
        return new GenerationConfig(maxNewTokens, 0, 0, 1, 0, Set.of());
    }

    public GenerationConfig withStopTokens(Set<Integer> stops) {
        return new GenerationConfig(maxNewTokens, temperature, topK, topP, seed, stops);
    }
}
