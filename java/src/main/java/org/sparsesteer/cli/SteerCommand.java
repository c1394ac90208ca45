package org.sparsesteer.cli;

import java.nio.file.Files;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.Callable;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.GenerationConfig;
import org.sparsesteer.model.Generator;
import org.sparsesteer.model.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "steer", mixinStandardHelpOptions = true,
        description = "Generate from a prompt steered with SAS vectors, beside the unsteered and the oppositely steered generation.")
final class SteerCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @ArgGroup(exclusive = false, multiplicity = "1")
    InputOptions input;

    @Mixin
    SteerOptions steer;

    @Option(names = "--max-new-tokens", defaultValue = "48", paramLabel = "N")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", paramLabel = "T")
    double temperature;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S")
    long seed;

    @Override
    public Integer call() {
        steer.validate();
        if (!steer.active()) throw new IllegalArgumentException("give at least one --steer VEC --scale L");
        try (Gemma2 model = modelOptions.load(); SteerOptions s = steer) {
            int[] prompt = input.ids(modelOptions.model);
            boolean hasTok = input.tokenizer != null || Files.exists(modelOptions.model.resolve("tokenizer.json"));
            try (Tokenizer tok = hasTok ? Tokenizer.load(input.tokenizer != null ? input.tokenizer : modelOptions.model) : null) {
                Set<Integer> stops = new HashSet<>(Set.of(model.config().eosTokenId()));
                if (tok != null && tok.tokenId("<end_of_turn>") >= 0) stops.add(tok.tokenId("<end_of_turn>"));
                GenerationConfig cfg = new GenerationConfig(maxNewTokens, temperature, 0, 1, seed, stops);
                Hooks plus = steer.build(model, 1), minus = steer.build(model, -1);
                String[] labels = {"unsteered", "steered (scale as given)", "steered (opposite scale)"};
                Hooks[] hooks = {Hooks.NONE, plus, minus};
                for (int i = 0; i < 3; i++) {
                    int[] out = Generator.generate(model, prompt, cfg, hooks[i]);
                    System.out.println("=== " + labels[i] + " ===");
                    System.out.println(tok != null ? tok.decode(out, true) : ForwardCommand.joinIds(out));
                }
            }
        }
        return 0;
    }
}
