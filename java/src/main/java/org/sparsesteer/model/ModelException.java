package org.sparsesteer.model;

/** A model directory, config or input that cannot be used: the message names the file, field or argument. */
public class ModelException extends RuntimeException {
    public ModelException(String message) {
        super(message);
    }

    public ModelException(String message, Throwable cause) {
        super(message, cause);
    }
}
