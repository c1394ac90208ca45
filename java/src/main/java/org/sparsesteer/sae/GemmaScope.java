package org.sparsesteer.sae;

import java.nio.file.Path;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.io.NpyInfo;
import org.sparsesteer.io.NpzFile;

/**
 * Gemma Scope's {@code params.npz}: W_enc [d, m], W_dec [m, d], b_enc [m], b_dec [d], threshold [m];
 * JumpReLU on the raw activation (no b_dec subtraction). Members are memory-mapped, never read onto
 * the Java heap.
 */
final class GemmaScope {
    private GemmaScope() {}

    static Sae load(Path npz, String hook) {
        try (NpzFile f = NpzFile.open(npz)) {
            for (String n : new String[] {"W_enc", "W_dec", "b_enc", "b_dec", "threshold"}) {
                if (!f.contains(n)) throw new SaeException(npz + ": missing array '" + n + "' (Gemma Scope params.npz has W_enc, W_dec, b_enc, b_dec, threshold)");
            }
            NpyInfo enc = f.info("W_enc");
            if (enc.shape().length != 2) throw new SaeException(npz + ": W_enc must be 2-D [d_in, width], got " + java.util.Arrays.toString(enc.shape()));
            int d = Math.toIntExact(enc.shape()[0]), m = Math.toIntExact(enc.shape()[1]);
            SaeConfig c = new SaeConfig(SaeConfig.Architecture.JUMPRELU, d, m, 0, hook, false, npz.toString(), SaeLoader.fingerprint(npz));
            Tensor wEnc = null, bEnc = null, thr = null, wDec = null, bDec = null;
            try {
                wEnc = f.load("W_enc", ScalarType.Float);
                bEnc = f.load("b_enc", ScalarType.Float);
                thr = f.load("threshold", ScalarType.Float);
                wDec = f.load("W_dec", ScalarType.Float);
                bDec = f.load("b_dec", ScalarType.Float);
                return new Sae(c, wEnc, bEnc, thr, wDec, bDec);
            } catch (RuntimeException e) {
                for (Tensor t : new Tensor[] {wEnc, bEnc, thr, wDec, bDec}) if (t != null) t.close();
                throw e;
            }
        }
    }
}
