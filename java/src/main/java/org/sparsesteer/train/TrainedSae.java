package org.sparsesteer.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeLensWriter;

/**
 * A freshly trained SAE with its report. It owns the {@link Sae} (close it, or this). The in-memory
 * SAE has no file fingerprint: save it and load it back to build steering vectors with it.
 */
public final class TrainedSae implements AutoCloseable {
    private final Sae sae;
    private final SaeTrainingReport report;
    private final ObjectNode options;
    private final String modelName;

    TrainedSae(Sae sae, SaeTrainingReport report, ObjectNode options, String modelName) {
        this.sae = sae;
        this.report = report;
        this.options = options;
        this.modelName = modelName;
    }

    public Sae sae() {
        return sae;
    }

    public SaeTrainingReport report() {
        return report;
    }

    /**
     * Writes a SAELens directory: the usual cfg.json fields, {@code model_name} when known, and a
     * {@code training} object with the options and the metrics.
     */
    public void save(Path dir) throws IOException {
        ObjectNode extra = options.objectNode();
        if (modelName != null) extra.put("model_name", modelName);
        ObjectNode training = extra.putObject("training");
        training.setAll(options);
        training.setAll(report.toJson());
        SaeLensWriter.write(sae, dir, extra);
    }

    @Override
    public void close() {
        sae.close();
    }
}
