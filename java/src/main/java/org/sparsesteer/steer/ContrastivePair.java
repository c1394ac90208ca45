package org.sparsesteer.steer;

/** One A/B item as two token sequences (<bos> included) that end at the answer letter. */
public record ContrastivePair(int[] positive, int[] negative) {}
