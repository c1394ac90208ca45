package org.sparsesteer.hooks;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A place on the residual stream, named as TransformerLens names it: {@code hook_embed},
 * {@code blocks.L.hook_resid_pre}, {@code blocks.L.hook_attn_out}, {@code blocks.L.hook_resid_mid},
 * {@code blocks.L.hook_mlp_out}, {@code blocks.L.hook_resid_post}.
 *
 * <p>In Gemma 2 terms: resid_pre is the input of decoder layer L (for L = 0 the embedding times
 * sqrt(hidden), which is also hook_embed); attn_out is the attention output after
 * post_attention_layernorm; resid_mid = resid_pre + attn_out; mlp_out is the MLP output after
 * post_feedforward_layernorm; resid_post = resid_mid + mlp_out, the output of layer L (where Gemma
 * Scope's residual SAEs sit).
 */
public record HookPoint(int layer, Kind kind) {
    public enum Kind {
        EMBED("hook_embed"),
        RESID_PRE("hook_resid_pre"),
        ATTN_OUT("hook_attn_out"),
        RESID_MID("hook_resid_mid"),
        MLP_OUT("hook_mlp_out"),
        RESID_POST("hook_resid_post");

        public final String suffix;

        Kind(String suffix) {
            this.suffix = suffix;
        }
    }

    private static final Pattern BLOCK = Pattern.compile("blocks\\.(\\d{1,6})\\.(hook_[a-z_]+)");

    public static final HookPoint EMBED = new HookPoint(-1, Kind.EMBED);

    public static HookPoint of(int layer, Kind kind) {
        return kind == Kind.EMBED ? EMBED : new HookPoint(layer, kind);
    }

    /** Parses a TransformerLens hook name; the error lists what would have been valid. */
    public static HookPoint parse(String name) {
        if (name == null) throw new IllegalArgumentException("hook name is null");
        if (name.equals(Kind.EMBED.suffix)) return EMBED;
        Matcher m = BLOCK.matcher(name);
        if (m.matches()) {
            for (Kind k : Kind.values()) {
                if (k != Kind.EMBED && k.suffix.equals(m.group(2))) return new HookPoint(Integer.parseInt(m.group(1)), k);
            }
        }
        throw new IllegalArgumentException("hook '" + name + "' is not a hook point: use hook_embed or blocks.L.{hook_resid_pre, "
                + "hook_attn_out, hook_resid_mid, hook_mlp_out, hook_resid_post}");
    }

    public String name() {
        return kind == Kind.EMBED ? kind.suffix : "blocks." + layer + "." + kind.suffix;
    }

    /** Throws unless this point exists in a model with {@code numLayers} layers. */
    public void checkExists(int numLayers) {
        if (kind != Kind.EMBED && (layer < 0 || layer >= numLayers)) {
            throw new IllegalArgumentException("hook '" + name() + "' does not exist: the model has " + numLayers
                    + " layers (blocks.0 to blocks." + (numLayers - 1) + ")");
        }
    }

    @Override
    public String toString() {
        return name();
    }
}
