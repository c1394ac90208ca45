package org.sparsesteer.steer;

import org.sparsesteer.model.ChatTemplate;

/** How an A/B question becomes a prompt: plain "question\n\nAnswer:" for base checkpoints, Gemma's chat turn for instruction-tuned ones. */
public enum PromptFormat {
    BASE,
    CHAT;

    public String prompt(String question) {
        return this == CHAT ? ChatTemplate.userTurn(question) : question + "\n\nAnswer:";
    }
}
