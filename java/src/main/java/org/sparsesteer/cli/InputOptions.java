package org.sparsesteer.cli;

import java.nio.file.Path;
import org.sparsesteer.model.ChatTemplate;
import org.sparsesteer.model.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Option;

/** A prompt as text (tokenised with the model's tokenizer.json) or as raw token ids. */
final class InputOptions {
    static final class Source {
        @Option(names = "--ids", split = ",", paramLabel = "ID", description = "Token ids, comma-separated (bypasses the tokenizer; include <bos>=2 yourself).")
        int[] ids;

        @Option(names = "--prompt", paramLabel = "TEXT", description = "Text, tokenised with <bos> prepended.")
        String prompt;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--chat", description = "Wrap --prompt in Gemma's chat template (instruction-tuned checkpoints).")
    boolean chat;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "tokenizer.json to use instead of the model directory's.")
    Path tokenizer;

    int[] ids(Path modelDir) {
        if (source.ids != null) {
            if (source.ids.length == 0) throw new IllegalArgumentException("--ids is empty");
            return source.ids;
        }
        try (Tokenizer t = Tokenizer.load(tokenizer != null ? tokenizer : modelDir)) {
            return t.encode(chat ? ChatTemplate.userTurn(source.prompt) : source.prompt, true);
        }
    }
}
