package org.sparsesteer.model;

/**
 * Gemma's chat template for instruction-tuned checkpoints:
 * {@code <start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n}. The tokenizer adds {@code <bos>}.
 */
public final class ChatTemplate {
    public static final String START_OF_TURN = "<start_of_turn>";
    public static final String END_OF_TURN = "<end_of_turn>";

    private ChatTemplate() {}

    /** One user turn, opening the model's turn. */
    public static String userTurn(String message) {
        return START_OF_TURN + "user\n" + message + END_OF_TURN + "\n" + START_OF_TURN + "model\n";
    }

    /** A user turn followed by the start of the model's answer (e.g. " (" before an A/B letter). */
    public static String userTurnThen(String message, String answerPrefix) {
        return userTurn(message) + answerPrefix;
    }
}
