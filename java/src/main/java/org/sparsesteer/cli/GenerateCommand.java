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

@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate a continuation of a prompt.")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions modelOptions;

    @ArgGroup(exclusive = false, multiplicity = "1")
    InputOptions input;

    @Option(names = "--max-new-tokens", defaultValue = "64", paramLabel = "N")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", paramLabel = "T", description = "0 = greedy (default).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", paramLabel = "K", description = "0 = off.")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", paramLabel = "P", description = "1 = off.")
    double topP;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S")
    long seed;

    @Override
    public Integer call() {
        try (Gemma2 model = modelOptions.load()) {
            int[] prompt = input.ids(modelOptions.model);
            Set<Integer> stops = new HashSet<>(Set.of(model.config().eosTokenId()));
            Tokenizer tok = hasTokenizer() ? Tokenizer.load(input.tokenizer != null ? input.tokenizer : modelOptions.model) : null;
            try {
                if (tok != null) {
                    int eot = tok.tokenId("<end_of_turn>");
                    if (eot >= 0) stops.add(eot);
                }
                GenerationConfig cfg = new GenerationConfig(maxNewTokens, temperature, topK, topP, seed, stops);
                int[] out = Generator.generate(model, prompt, cfg, Hooks.NONE);
                System.out.println(tok != null ? tok.decode(out, true) : ForwardCommand.joinIds(out));
            } finally {
                if (tok != null) tok.close();
            }
        }
        return 0;
    }

    private boolean hasTokenizer() {
        return input.tokenizer != null || Files.exists(modelOptions.model.resolve("tokenizer.json"));
    }
}
