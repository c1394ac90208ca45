package org.sparsesteer.sae;

/**
 * What an SAE is, in SAELens' words.
 *
 * @param architecture jumprelu (Gemma Scope), standard (ReLU) or topk
 * @param k the number of active features of a TopK SAE (0 otherwise)
 * @param hookName where it reads the residual stream, e.g. {@code blocks.12.hook_resid_post}
 * @param applyBDecToInput whether x - b_dec is encoded instead of x (Gemma Scope: false)
 * @param source the file or directory it was loaded from
 * @param identity a fingerprint of the weights (sha256 of the first MiB of the weights file), so a
 *     steering vector can check it is applied with the SAE it was built for
 */
public record SaeConfig(Architecture architecture, int dIn, int width, int k, String hookName,
                        boolean applyBDecToInput, String source, String identity) {
    public enum Architecture {
        JUMPRELU("jumprelu"),
        RELU("standard"),
        TOPK("topk");

        public final String saeLensName;

        Architecture(String saeLensName) {
            this.saeLensName = saeLensName;
        }

        public static Architecture fromSaeLens(String name, String source) {
            for (Architecture a : values()) if (a.saeLensName.equals(name)) return a;
            if (name.equals("relu")) return RELU;
            throw new SaeException(source + ": SAE architecture '" + name + "' is not supported (jumprelu, standard, topk)");
        }
    }

    public SaeConfig withHook(String hook) {
        return new SaeConfig(architecture, dIn, width, k, hook, applyBDecToInput, source, identity);
    }
}
