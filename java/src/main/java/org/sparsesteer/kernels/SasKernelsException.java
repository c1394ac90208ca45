package org.sparsesteer.kernels;

/**
 * A call into the kernel library returned a status other than {@code SAS_OK}. Carries the status, its name
 * ({@code sas_status_name}) and the library's message for the call ({@code sas_last_error}).
 *
 * <p>{@link SasKernels} checks every argument before it calls in, so this normally means a CUDA runtime
 * error, an allocation failure or an unsupported combination the Java checks do not know about.
 */
public final class SasKernelsException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;
    private final String statusName;
    private final String nativeMessage;

    public SasKernelsException(String function, int status, String statusName, String nativeMessage) {
        super(function + " failed: " + statusName + " (" + status + "): " + nativeMessage);
        this.status = status;
        this.statusName = statusName;
        this.nativeMessage = nativeMessage;
    }

    /** The sas_status code. */
    public int status() {
        return status;
    }

    /** The constant name of the status, e.g. {@code SAS_ERR_CUDA}. */
    public String statusName() {
        return statusName;
    }

    /** sas_last_error() for the failed call. */
    public String nativeMessage() {
        return nativeMessage;
    }
}
