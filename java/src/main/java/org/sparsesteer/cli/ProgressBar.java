package org.sparsesteer.cli;

import java.io.PrintStream;

/**
 * A one-line progress bar with rate and ETA on stderr. It draws nothing until a second has passed,
 * so short jobs stay quiet, and redraws at most ten times a second.
 */
public final class ProgressBar implements AutoCloseable {
    private final String label;
    private final long total;
    private final PrintStream out;
    private final long started = System.nanoTime();
    private long done;
    private long lastDraw;
    private boolean drawn;
    private String status = "";

    public ProgressBar(String label, long total) {
        this(label, total, System.err);
    }

    public ProgressBar(String label, long total, PrintStream out) {
        this.label = label;
        this.total = Math.max(1, total);
        this.out = out;
    }

    public synchronized void step(long n) {
        done = Math.min(total, done + n);
        long now = System.nanoTime();
        if (now - started < 1_000_000_000L || (now - lastDraw < 100_000_000L && done < total)) return;
        lastDraw = now;
        draw(now);
    }

    public void step() {
        step(1);
    }

    /** A short text drawn after the ETA (e.g. the current loss); shown at the next redraw. */
    public synchronized void status(String text) {
        status = text == null ? "" : text;
    }

    private void draw(long now) {
        double secs = (now - started) / 1e9;
        double frac = (double) done / total;
        int width = 30, full = (int) Math.round(frac * width);
        double eta = done == 0 ? Double.NaN : secs / done * (total - done);
        out.printf("\r%-22s [%s%s] %3.0f%% %d/%d  %s elapsed, ETA %s %s", label, "#".repeat(full), ".".repeat(width - full),
                frac * 100, done, total, time(secs), Double.isNaN(eta) ? "?" : time(eta), status.isEmpty() ? "" : " " + status + " ");
        out.flush();
        drawn = true;
    }

    private static String time(double s) {
        long t = Math.round(s);
        return t >= 60 ? (t / 60) + "m" + String.format("%02d", t % 60) + "s" : t + "s";
    }

    @Override
    public synchronized void close() {
        if (drawn) {
            draw(System.nanoTime());
            out.println();
        }
    }
}
