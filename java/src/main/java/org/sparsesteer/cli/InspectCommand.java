package org.sparsesteer.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.Tokenizer;
import org.sparsesteer.sae.Sae;
import org.sparsesteer.sae.SaeLoader;
import org.sparsesteer.steer.Inspect;
import org.sparsesteer.steer.SteeringVector;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Show a vector's features sorted by |v| (--vector), or the top-k active SAE features of each token of a text (--model, --sae, --prompt/--ids)."})
final class InspectCommand implements Callable<Integer> {
    @Option(names = "--vector", paramLabel = "VEC", description = "A steering vector to list.")
    Path vector;

    @Option(names = "--top", defaultValue = "20", paramLabel = "N", description = "Features to list (0 = all; default: ${DEFAULT-VALUE}).")
    int top;

    @Option(names = "--model", paramLabel = "DIR")
    Path model;

    @Option(names = "--sae", paramLabel = "PATH")
    Path sae;

    @Option(names = "--hook", paramLabel = "HOOK")
    String hook;

    @ArgGroup(exclusive = false)
    InputOptions input;

    @Option(names = "--top-k", defaultValue = "5", paramLabel = "K", description = "Features per token (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--json", description = "JSON instead of plain text.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ObjectMapper om = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        if (vector != null) {
            SteeringVector v = SteeringVector.read(vector);
            List<Inspect.Feature> fs = Inspect.features(v, top);
            if (json) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("vector", vector.toString());
                o.put("metadata", v.metadata());
                o.put("features", fs);
                System.out.println(om.writeValueAsString(o));
            } else {
                System.out.printf("%s: %d features at %s (tau %s, |S+| %s, |S-| %s)%n", vector, v.size(), v.hook(),
                        v.metadata().getOrDefault("tau", "?"), v.metadata().getOrDefault("s_pos", "?"), v.metadata().getOrDefault("s_neg", "?"));
                System.out.printf("%8s %12s %9s %9s%n", "feature", "value", "freq+", "freq-");
                for (Inspect.Feature f : fs) System.out.printf("%8d %12.6f %9.3f %9.3f%n", f.index(), f.value(), f.freqPos(), f.freqNeg());
            }
            return 0;
        }
        if (model == null || sae == null || input == null) {
            throw new IllegalArgumentException("give --vector VEC, or --model DIR --sae PATH with --prompt TEXT or --ids IDS");
        }
        try (Gemma2 m = Gemma2.load(model); Sae s = SaeLoader.loadFor(m, sae, hook)) {
            int[] ids = input.ids(model);
            List<Inspect.TokenFeatures> per = Inspect.activeFeatures(m, s, ids, topK);
            Tokenizer tok = input.tokenizer != null || Files.exists(model.resolve("tokenizer.json"))
                    ? Tokenizer.load(input.tokenizer != null ? input.tokenizer : model) : null;
            try {
                if (json) {
                    System.out.println(om.writeValueAsString(Map.of("hook", s.config().hookName(), "tokens", per)));
                } else {
                    System.out.println("top-" + topK + " active features at " + s.config().hookName());
                    for (Inspect.TokenFeatures t : per) {
                        String text = tok != null ? tok.decode(new int[] {t.tokenId()}, false).replace("\n", "\\n") : "";
                        StringBuilder sb = new StringBuilder();
                        for (int i = 0; i < t.features().length; i++) sb.append(String.format(" %d:%.3f", t.features()[i], t.activations()[i]));
                        System.out.printf("%4d %7d %-14s%s%n", t.position(), t.tokenId(), "'" + text + "'", sb);
                    }
                }
            } finally {
                if (tok != null) tok.close();
            }
        }
        return 0;
    }
}
