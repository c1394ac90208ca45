package org.sparsesteer.steer;

/** The library version written into the files it produces. */
public final class Version {
    private Version() {}

    public static String get() {
        String v = Version.class.getPackage().getImplementationVersion();
        return "sparsesteer " + (v == null ? "dev" : v);
    }
}
