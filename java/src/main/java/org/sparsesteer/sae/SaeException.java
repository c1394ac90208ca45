package org.sparsesteer.sae;

/** An SAE that cannot be loaded or used as asked: the message names the file, field or tensor. */
public class SaeException extends RuntimeException {
    public SaeException(String message) {
        super(message);
    }

    public SaeException(String message, Throwable cause) {
        super(message, cause);
    }
}
