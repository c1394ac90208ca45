package org.sparsesteer.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.Tensor;
import org.sparsesteer.hooks.Capture;
import org.sparsesteer.hooks.HookPoint;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.io.SafetensorsWriter;
import org.sparsesteer.model.Gemma2;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "forward", mixinStandardHelpOptions = true,
        description = "Run one sequence (optionally steered) and write its logits [T, vocab] and captured activations [T, d] (float32) to a safetensors file.")
final class ForwardCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @ArgGroup(exclusive = false, multiplicity = "1")
    InputOptions input;

    @Option(names = "--capture", paramLabel = "HOOK", description = "Hook point to capture, e.g. blocks.2.hook_resid_post (repeatable).")
    List<String> capture = new ArrayList<>();

    @Mixin
    SteerOptions steer;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output .safetensors file.")
    Path out;

    @Override
    public Integer call() throws Exception {
        for (String c : capture) HookPoint.parse(c); // bad names fail before the model loads
        steer.validate();
        try (Gemma2 model = modelOptions.load(); SteerOptions s = steer) {
            int[] ids = input.ids(modelOptions.model);
            Hooks steering = steer.active() ? steer.build(model, 1) : Hooks.NONE;
            // Steering runs first, so captures see the steered stream.
            try (Capture cap = new Capture(capture.toArray(String[]::new)); Tensor logits = model.forward(ids, steering.and(cap.hooks()))) {
                SafetensorsWriter w = new SafetensorsWriter().add("logits", logits)
                        .addLongs("input_ids", toLongs(ids), ids.length)
                        .metadata("model", modelOptions.model.toString());
                for (String c : capture) {
                    try (Tensor row = cap.get(c).select(0, 0)) {
                        w.add(HookPoint.parse(c).name(), row);
                    }
                }
                w.write(out);
            }
            System.out.println("wrote " + out + ": logits [" + ids.length + ", " + model.config().vocabSize() + "]"
                    + (capture.isEmpty() ? "" : ", " + String.join(", ", capture)));
        }
        return 0;
    }

    static String joinIds(int[] ids) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < ids.length; i++) s.append(i > 0 ? "," : "").append(ids[i]);
        return s.toString();
    }

    static long[] toLongs(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) l[i] = ids[i];
        return l;
    }
}
