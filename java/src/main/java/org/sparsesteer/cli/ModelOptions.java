package org.sparsesteer.cli;

import java.nio.file.Path;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.sparsesteer.model.Gemma2;
import picocli.CommandLine.Option;

/** Options shared by every command that loads a model. */
final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model directory (config.json, *.safetensors, tokenizer.json).")
    Path model;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEV", description = "cpu or cuda[:N] (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--dtype", defaultValue = "float32", paramLabel = "T", description = "float32, or bfloat16 on CUDA (default: ${DEFAULT-VALUE}).")
    String dtype;

    Gemma2 load() {
        ScalarType t = switch (dtype) {
            case "float32", "f32", "float" -> ScalarType.Float;
            case "bfloat16", "bf16" -> ScalarType.BFloat16;
            default -> throw new IllegalArgumentException("--dtype must be float32 or bfloat16, got '" + dtype + "'");
        };
        if (!device.equals("cpu") && !device.matches("cuda(:\\d+)?")) {
            throw new IllegalArgumentException("--device must be cpu or cuda[:N], got '" + device + "'");
        }
        return Gemma2.load(model, new Device(device), t);
    }
}
