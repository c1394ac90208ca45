package org.sparsesteer;

import java.net.URISyntaxException;
import java.nio.file.Path;

/** Paths of the test fixtures copied from ../shared into test resources. */
public final class Fixtures {
    private Fixtures() {}

    public static Path resource(String name) {
        try {
            var url = Fixtures.class.getClassLoader().getResource(name);
            if (url == null) throw new IllegalStateException("test resource missing: " + name);
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The random-weight Gemma 2 with Google's reference outputs. */
    public static Path tinyA() {
        return resource("fixtures/gemma2-tiny-a");
    }

    public static int[] toInts(long[] l) {
        int[] r = new int[l.length];
        for (int i = 0; i < l.length; i++) r[i] = Math.toIntExact(l[i]);
        return r;
    }

    public static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs((double) a[i] - b[i]));
        return m;
    }
}
