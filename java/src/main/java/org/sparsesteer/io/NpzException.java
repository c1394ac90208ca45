package org.sparsesteer.io;

/** An .npz archive that cannot be read as it claims: the message names the file and the array. */
public class NpzException extends RuntimeException {
    public NpzException(String message) {
        super(message);
    }

    public NpzException(String message, Throwable cause) {
        super(message, cause);
    }
}
