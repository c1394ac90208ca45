package org.sparsesteer.eval;

/** One A/B item: the question (ending with its lettered choices) and the two answers, e.g. " (A)". */
public record AbItem(String question, String matching, String notMatching) {
    /** The answer letter of " (A)" → "A". */
    public static String letter(String answer) {
        String a = answer.strip();
        if (a.length() < 3 || a.charAt(0) != '(' || a.charAt(a.length() - 1) != ')') {
            throw new IllegalArgumentException("answer '" + answer + "' is not of the form ' (X)'");
        }
        return a.substring(1, a.length() - 1);
    }
}
