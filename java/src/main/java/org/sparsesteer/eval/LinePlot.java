package org.sparsesteer.eval;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/** A small line chart written as PNG with Java2D (headless): enough for score-vs-lambda plots. */
public final class LinePlot {
    public record Series(String label, double[] x, double[] y, int colorIndex, boolean dashed) {}

    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0x9467bd),
        new Color(0xff7f0e), new Color(0x8c564b), new Color(0xe377c2), new Color(0x17becf)};

    private final String title, xLabel, yLabel;
    private final List<Series> series = new ArrayList<>();
    private Double yMin, yMax;

    public LinePlot(String title, String xLabel, String yLabel) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
    }

    public LinePlot add(Series s) {
        if (s.x().length != s.y().length) throw new IllegalArgumentException(s.label() + ": x and y differ in length");
        series.add(s);
        return this;
    }

    public LinePlot yRange(double min, double max) {
        yMin = min;
        yMax = max;
        return this;
    }

    /** The smallest step of 1, 2 or 5 × 10^k that is at least {@code raw}. */
    static double niceStep(double raw) {
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        for (double m : new double[] {1, 2, 5, 10}) if (m * p >= raw - 1e-12 * p) return m * p;
        return 10 * p;
    }

    public void write(Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int w = 900, h = 560, left = 80, right = 250, top = 50, bottom = 60;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        double x0 = Double.MAX_VALUE, x1 = -Double.MAX_VALUE, y0 = Double.MAX_VALUE, y1 = -Double.MAX_VALUE;
        for (Series s : series) {
            for (double v : s.x()) { x0 = Math.min(x0, v); x1 = Math.max(x1, v); }
            for (double v : s.y()) if (Double.isFinite(v)) { y0 = Math.min(y0, v); y1 = Math.max(y1, v); }
        }
        if (yMin != null) { y0 = yMin; y1 = yMax; }
        if (x1 <= x0) { x0 -= 1; x1 += 1; }
        if (y1 <= y0) { y0 -= 0.5; y1 += 0.5; }
        int pw = w - left - right, ph = h - top - bottom;
        final double fx0 = x0, fx1 = x1, fy0 = y0, fy1 = y1;
        java.util.function.DoubleUnaryOperator px = v -> left + (v - fx0) / (fx1 - fx0) * pw;
        java.util.function.DoubleUnaryOperator py = v -> top + ph - (v - fy0) / (fy1 - fy0) * ph;
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        // grid and ticks: y in fifths of the range, x at round numbers (steps of 1, 2 or 5 × 10^k)
        for (int i = 0; i <= 5; i++) {
            double yv = y0 + (y1 - y0) * i / 5;
            int yy = (int) py.applyAsDouble(yv);
            g.setColor(new Color(0xE6E6E6));
            g.drawLine(left, yy, left + pw, yy);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format(java.util.Locale.ROOT, "%.2f", yv), left - 45, yy + 5);
        }
        double step = niceStep((x1 - x0) / 8);
        for (double xv = Math.ceil(x0 / step - 1e-9) * step; xv <= x1 + 1e-9 * step; xv += step) {
            int xx = (int) px.applyAsDouble(xv);
            g.setColor(new Color(0xE6E6E6));
            g.drawLine(xx, top, xx, top + ph);
            g.setColor(Color.DARK_GRAY);
            String label = Math.abs(xv - Math.rint(xv)) < 1e-9 * step ? String.format(java.util.Locale.ROOT, "%.0f", xv)
                    : String.format(java.util.Locale.ROOT, "%.2g", xv);
            g.drawString(label, xx - 4 * label.length(), top + ph + 20);
        }
        g.setColor(Color.BLACK);
        g.drawRect(left, top, pw, ph);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        g.drawString(title, left, top - 18);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 14));
        g.drawString(xLabel, left + pw / 2 - 20, h - 15);
        Graphics2D gy = (Graphics2D) g.create();
        gy.rotate(-Math.PI / 2);
        gy.drawString(yLabel, -(top + ph / 2) - 60, 22);
        gy.dispose();
        int ly = top + 10;
        for (Series s : series) {
            Color c = PALETTE[Math.floorMod(s.colorIndex(), PALETTE.length)];
            g.setColor(c);
            g.setStroke(s.dashed() ? new BasicStroke(2.2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 1f, new float[] {8f, 6f}, 0f) : new BasicStroke(2.5f));
            for (int i = 1; i < s.x().length; i++) {
                g.drawLine((int) px.applyAsDouble(s.x()[i - 1]), (int) py.applyAsDouble(s.y()[i - 1]),
                        (int) px.applyAsDouble(s.x()[i]), (int) py.applyAsDouble(s.y()[i]));
            }
            g.setStroke(new BasicStroke(1f));
            for (int i = 0; i < s.x().length; i++) {
                g.fillOval((int) px.applyAsDouble(s.x()[i]) - 3, (int) py.applyAsDouble(s.y()[i]) - 3, 7, 7);
            }
            g.setStroke(s.dashed() ? new BasicStroke(2.2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 1f, new float[] {8f, 6f}, 0f) : new BasicStroke(2.5f));
            g.drawLine(left + pw + 15, ly, left + pw + 45, ly);
            g.setColor(Color.BLACK);
            g.drawString(s.label(), left + pw + 52, ly + 5);
            ly += 22;
        }
        g.dispose();
        org.sparsesteer.io.AtomicFiles.write(png, tmp -> {
            if (!ImageIO.write(img, "png", tmp.toFile())) throw new IOException("no PNG writer");
        });
    }
}
