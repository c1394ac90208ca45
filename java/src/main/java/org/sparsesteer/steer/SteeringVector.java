package org.sparsesteer.steer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.sparsesteer.io.SafetensorsFile;
import org.sparsesteer.io.SafetensorsWriter;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeException;

/**
 * A Sparse Activation Steering vector: a sparse vector v in an SAE's feature space.
 *
 * <p>File format (safetensors): {@code indices} I64 [n] sorted ascending, {@code values} F32 [n],
 * optionally {@code freq_pos}/{@code freq_neg} F32 [n] (how often each feature fired on the positive
 * and negative examples), and string metadata: hook, sae_path, sae_width, sae_d_in, sae_sha256 (of
 * the SAE weights file's first MiB), tau, top_k, s_pos (|S+|), s_neg (|S-|), pairs, dataset,
 * dataset_sha256, tool_version.
 */
public record SteeringVector(long[] indices, float[] values, float[] freqPos, float[] freqNeg, Map<String, String> metadata) {
    public SteeringVector {
        if (indices.length != values.length) throw new IllegalArgumentException("indices and values differ in length");
        for (int i = 1; i < indices.length; i++) {
            if (indices[i] <= indices[i - 1]) throw new IllegalArgumentException("indices must be strictly ascending");
        }
        metadata = Map.copyOf(metadata);
    }

    /** The non-zero entries of a dense vector [width]. */
    public static SteeringVector fromDense(float[] dense, float[] freqPos, float[] freqNeg, Map<String, String> metadata) {
        int n = 0;
        for (float v : dense) if (v != 0) n++;
        long[] idx = new long[n];
        float[] val = new float[n], fp = freqPos == null ? null : new float[n], fn = freqNeg == null ? null : new float[n];
        for (int j = 0, i = 0; j < dense.length; j++) {
            if (dense[j] == 0) continue;
            idx[i] = j;
            val[i] = dense[j];
            if (fp != null) fp[i] = freqPos[j];
            if (fn != null) fn[i] = freqNeg[j];
            i++;
        }
        return new SteeringVector(idx, val, fp, fn, metadata);
    }

    public int size() {
        return indices.length;
    }

    public String hook() {
        return metadata.get("hook");
    }

    public float[] dense(int width) {
        float[] d = new float[width];
        for (int i = 0; i < indices.length; i++) {
            if (indices[i] >= width) throw new IllegalArgumentException("feature " + indices[i] + " is outside width " + width);
            d[(int) indices[i]] = values[i];
        }
        return d;
    }

    /** Throws unless this vector was built for this SAE (same width, d_in, hook and weights). */
    public void checkFor(Sae sae, String vectorSource) {
        String w = metadata.get("sae_width"), sha = metadata.get("sae_sha256"), hook = metadata.get("hook"), din = metadata.get("sae_d_in");
        if (w != null && !w.equals(Integer.toString(sae.width()))) {
            throw new SaeException(vectorSource + ": built for an SAE of width " + w + ", applied with width " + sae.width() + " (" + sae.config().source() + ")");
        }
        if (din != null && !din.equals(Integer.toString(sae.dIn()))) {
            throw new SaeException(vectorSource + ": built for an SAE with d_in " + din + ", applied with d_in " + sae.dIn());
        }
        if (sha != null && !sha.equals(sae.config().identity())) {
            throw new SaeException(vectorSource + ": built for another SAE (" + metadata.getOrDefault("sae_path", "?") + ", sha256 "
                    + sha.substring(0, Math.min(12, sha.length())) + "…) than " + sae.config().source());
        }
        if (hook != null && !hook.equals(sae.config().hookName())) {
            throw new SaeException(vectorSource + ": built at hook " + hook + " but the SAE reads " + sae.config().hookName());
        }
        for (long i : indices) {
            if (i < 0 || i >= sae.width()) throw new SaeException(vectorSource + ": feature " + i + " is outside the SAE's width " + sae.width());
        }
    }

    public void write(Path file) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter();
        w.addLongs("indices", indices, indices.length).addFloats("values", values, values.length);
        if (freqPos != null) w.addFloats("freq_pos", freqPos, freqPos.length);
        if (freqNeg != null) w.addFloats("freq_neg", freqNeg, freqNeg.length);
        metadata.forEach(w::metadata);
        w.write(file);
    }

    public static SteeringVector read(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String n : new String[] {"indices", "values"}) {
                if (!f.contains(n)) throw new SaeException(file + ": not a steering vector: no '" + n + "' tensor");
            }
            long[] idx = f.readLongs("indices");
            float[] val = f.readFloats("values");
            if (idx.length != val.length) throw new SaeException(file + ": 'indices' and 'values' differ in length");
            float[] fp = f.contains("freq_pos") ? f.readFloats("freq_pos") : null;
            float[] fn = f.contains("freq_neg") ? f.readFloats("freq_neg") : null;
            try {
                return new SteeringVector(idx, val, fp, fn, new LinkedHashMap<>(f.metadata()));
            } catch (IllegalArgumentException e) {
                throw new SaeException(file + ": " + e.getMessage(), e);
            }
        }
    }

    /** The same vector keeping only its k entries of largest |v| (ties by lower index). */
    public SteeringVector topK(int k) {
        if (k < 1) throw new IllegalArgumentException("top-k must be >= 1, got " + k);
        if (k >= indices.length) return this;
        Integer[] order = new Integer[indices.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> {
            int c = Float.compare(Math.abs(values[b]), Math.abs(values[a]));
            return c != 0 ? c : Long.compare(indices[a], indices[b]);
        });
        boolean[] keep = new boolean[indices.length];
        for (int i = 0; i < k; i++) keep[order[i]] = true;
        long[] idx = new long[k];
        float[] val = new float[k], fp = freqPos == null ? null : new float[k], fn = freqNeg == null ? null : new float[k];
        for (int i = 0, j = 0; i < indices.length; i++) {
            if (!keep[i]) continue;
            idx[j] = indices[i];
            val[j] = values[i];
            if (fp != null) fp[j] = freqPos[i];
            if (fn != null) fn[j] = freqNeg[i];
            j++;
        }
        Map<String, String> m = new LinkedHashMap<>(metadata);
        m.put("top_k", Integer.toString(k));
        return new SteeringVector(idx, val, fp, fn, m);
    }
}
