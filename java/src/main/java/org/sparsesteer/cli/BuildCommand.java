package org.sparsesteer.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Tokenizer;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeLoader;
import org.sparsesteer.steer.CaaVector;
import org.sparsesteer.steer.PairFile;
import org.sparsesteer.steer.PromptFormat;
import org.sparsesteer.steer.SasBuilder;
import org.sparsesteer.steer.SteeringVector;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "build", mixinStandardHelpOptions = true, description = "Build a Sparse Activation Steering vector from contrastive pairs.")
final class BuildCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--sae", required = true, paramLabel = "PATH", description = "Gemma Scope params.npz or SAELens directory.")
    Path saePath;

    @Option(names = "--hook", paramLabel = "HOOK", description = "The SAE's hook, e.g. blocks.12.hook_resid_post (required for params.npz unless its path has layer_N).")
    String hook;

    @Option(names = "--pairs", required = true, paramLabel = "FILE", description = "JSONL: A/B items (question, answer_matching_behavior, answer_not_matching_behavior) or {positive_ids, negative_ids}.")
    Path pairs;

    @Option(names = "--tau", defaultValue = "0.5", paramLabel = "T", description = "Keep features active in at least this fraction of a side's sequences (default: ${DEFAULT-VALUE}).")
    double tau;

    @Option(names = "--top-k", defaultValue = "0", paramLabel = "K", description = "Keep only the K entries of largest |v| (0 = all).")
    int topK;

    @Option(names = "--format", defaultValue = "base", paramLabel = "F", description = "Prompt format of text pairs: base (question\\n\\nAnswer:) or chat (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--caa-out", paramLabel = "FILE", description = "Also write the dense CAA baseline vector here.")
    Path caaOut;

    @Option(names = "--out", required = true, paramLabel = "VEC", description = "Output .safetensors.")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (!(tau >= 0 && tau <= 1)) throw new IllegalArgumentException("--tau must be in [0, 1], got " + tau);
        if (topK < 0) throw new IllegalArgumentException("--top-k must be >= 0, got " + topK);
        PromptFormat pf = parseFormat(format);
        try (Gemma2 model = modelOptions.load(); Sae sae = SaeLoader.loadFor(model, saePath, hook)) {
            Tokenizer tok = Files.exists(modelOptions.model.resolve("tokenizer.json")) ? Tokenizer.load(modelOptions.model) : null;
            PairFile.Loaded loaded;
            try {
                loaded = PairFile.read(pairs, tok, pf);
            } finally {
                if (tok != null) tok.close();
            }
            SteeringVector v;
            try (ProgressBar bar = new ProgressBar("encoding pairs", 2L * loaded.pairs().size())) {
                v = new SasBuilder(model, sae).tau(tau).topK(topK).onProgress(n -> bar.step())
                        .build(loaded.pairs(), loaded.name(), loaded.sha256());
            }
            v.write(out);
            System.out.printf("wrote %s: %d features (|S+| = %s, |S-| = %s, tau %s%s) from %d pairs at %s%n", out, v.size(),
                    v.metadata().get("s_pos"), v.metadata().get("s_neg"), tau, topK > 0 ? ", top-" + topK : "", loaded.pairs().size(), sae.config().hookName());
            if (caaOut != null) {
                CaaVector caa = CaaVector.build(model, sae.config().hookName(), loaded.pairs(), 16, n -> {});
                caa.write(caaOut);
                System.out.println("wrote " + caaOut + ": dense CAA vector [" + caa.vector().length + "]");
            }
        }
        return 0;
    }

    static PromptFormat parseFormat(String f) {
        return switch (f) {
            case "base" -> PromptFormat.BASE;
            case "chat" -> PromptFormat.CHAT;
            default -> throw new IllegalArgumentException("--format must be base or chat, got '" + f + "'");
        };
    }
}
