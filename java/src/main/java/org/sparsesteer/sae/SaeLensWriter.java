package org.sparsesteer.sae;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.io.AtomicFiles;
import org.sparsesteer.io.SafetensorsWriter;

/**
 * Writes an SAE as a SAELens directory ({@code cfg.json} + {@code sae_weights.safetensors},
 * float32) that {@link SaeLoader} and SAELens read. A new directory appears whole: it is written
 * under a temporary sibling name and renamed. Into an existing directory each file is replaced
 * atomically, the weights first, so cfg.json never describes weights that were not written.
 */
public final class SaeLensWriter {
    private SaeLensWriter() {}

    /** The SAELens config of an SAE; {@code extra} fields (e.g. {@code training}) are added last. */
    public static ObjectNode config(Sae sae, ObjectNode extra) {
        SaeConfig c = sae.config();
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("architecture", c.architecture().saeLensName);
        o.put("d_in", c.dIn());
        o.put("d_sae", c.width());
        if (c.architecture() == SaeConfig.Architecture.TOPK) o.put("k", c.k());
        o.put("hook_name", c.hookName());
        HookPoint p = HookPoint.parse(c.hookName());
        if (p.kind() != HookPoint.Kind.EMBED) o.put("hook_layer", p.layer());
        o.put("apply_b_dec_to_input", c.applyBDecToInput());
        o.put("normalize_activations", "none");
        o.put("dtype", "float32");
        o.put("device", "cpu");
        if (extra != null) o.setAll(extra);
        return o;
    }

    public static void write(Sae sae, Path dir, ObjectNode extra) throws IOException {
        String cfg = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(config(sae, extra)) + "\n";
        Path target = dir.toAbsolutePath();
        if (Files.exists(target) && !Files.isDirectory(target)) throw new SaeException(dir + ": exists and is not a directory");
        if (Files.isDirectory(target)) {
            writeFiles(sae, target, cfg);
            return;
        }
        Files.createDirectories(target.getParent());
        Path tmp = temporarySibling(target);
        try {
            writeFiles(sae, tmp, cfg);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            deleteTree(tmp);
        }
    }

    private static void writeFiles(Sae sae, Path dir, String cfg) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
        try {
            addFloat(w, "W_enc", sae.wEnc());
            addFloat(w, "W_dec", sae.wDec());
            addFloat(w, "b_enc", sae.bEnc());
            addFloat(w, "b_dec", sae.bDec());
            if (sae.threshold() != null) addFloat(w, "threshold", sae.threshold());
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
        w.write(dir.resolve("sae_weights.safetensors"));
        AtomicFiles.writeString(dir.resolve("cfg.json"), cfg);
    }

    /** cfg.json says float32, so the weights are stored as float32 whatever the SAE computes in. */
    private static void addFloat(SafetensorsWriter w, String name, Tensor t) {
        try (Tensor f = t.to(ScalarType.Float)) {
            w.add(name, f);
        }
    }

    private static Path temporarySibling(Path target) throws IOException {
        while (true) {
            Path tmp = target.resolveSibling("." + target.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
            try {
                return Files.createDirectory(tmp);
            } catch (FileAlreadyExistsException e) {
                // try another name
            }
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        }
    }
}
