package org.sparsesteer.io;

/** A safetensors file that cannot be read as it claims: the message names the file and the tensor. */
public class SafetensorsException extends RuntimeException {
    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
