package org.sparsesteer.hooks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparsesteer.Fixtures;
import org.sparsesteer.model.Gemma2;
import org.sparsesteer.model.GenerationConfig;
import org.sparsesteer.model.Generator;
import org.sparsesteer.tensor.Tensors;

class HooksTest {
    static Gemma2 model;
    static final int[] IDS = {2, 17, 301, 44, 9, 120};

    @BeforeAll
    static void load() {
        model = Gemma2.load(Fixtures.tinyA());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void namesRoundTrip() {
        for (String n : new String[] {"hook_embed", "blocks.0.hook_resid_pre", "blocks.3.hook_attn_out", "blocks.12.hook_resid_mid",
                "blocks.1.hook_mlp_out", "blocks.25.hook_resid_post"}) {
            assertEquals(n, HookPoint.parse(n).name());
        }
    }

    @Test
    void residualDecompositionHolds() {
        try (Capture c = new Capture("blocks.1.hook_resid_pre", "blocks.1.hook_attn_out", "blocks.1.hook_resid_mid",
                "blocks.1.hook_mlp_out", "blocks.1.hook_resid_post", "blocks.0.hook_resid_post");
             Tensor l = model.forward(IDS, c.hooks())) {
            float[] pre = Tensors.toFloats(c.get("blocks.1.hook_resid_pre"));
            float[] attn = Tensors.toFloats(c.get("blocks.1.hook_attn_out"));
            float[] mid = Tensors.toFloats(c.get("blocks.1.hook_resid_mid"));
            float[] mlp = Tensors.toFloats(c.get("blocks.1.hook_mlp_out"));
            float[] post = Tensors.toFloats(c.get("blocks.1.hook_resid_post"));
            float[] post0 = Tensors.toFloats(c.get("blocks.0.hook_resid_post"));
            for (int i = 0; i < pre.length; i++) {
                assertEquals(post0[i], pre[i], 0f);
                assertEquals(pre[i] + attn[i], mid[i], 1e-5f * Math.max(1, Math.abs(mid[i])));
                assertEquals(mid[i] + mlp[i], post[i], 1e-5f * Math.max(1, Math.abs(post[i])));
            }
            assertEquals(1, c.get("blocks.1.hook_resid_pre").size(0));
            assertEquals(IDS.length, c.get("blocks.1.hook_resid_pre").size(1));
        }
    }

    @Test
    void aModifyingHookChangesLaterLayersOnly() {
        Hooks zeroMlp = Hooks.of("blocks.2.hook_mlp_out", (p, a, ctx) -> a.mul(new Scalar(0.0)));
        try (Capture c0 = new Capture("blocks.1.hook_resid_post", "blocks.2.hook_resid_post", "blocks.2.hook_resid_mid");
             Capture c1 = new Capture("blocks.1.hook_resid_post", "blocks.2.hook_resid_post", "blocks.2.hook_resid_mid");
             Tensor a = model.forward(IDS, c0.hooks()); Tensor b = model.forward(IDS, zeroMlp.and(c1.hooks()))) {
            assertTrue(c0.get("blocks.1.hook_resid_post").equal(c1.get("blocks.1.hook_resid_post")));
            assertTrue(c1.get("blocks.2.hook_resid_post").equal(c1.get("blocks.2.hook_resid_mid")), "zeroed MLP: post == mid");
            assertFalse(a.equal(b));
        }
    }

    @Test
    void contextTellsPromptFromGenerated() {
        List<String> seen = new ArrayList<>();
        Hooks h = Hooks.of("blocks.0.hook_resid_post", (p, a, ctx) -> {
            StringBuilder s = new StringBuilder();
            for (int t = 0; t < ctx.length(); t++) s.append(ctx.isPadding(1, t) ? 'p' : ctx.isPrompt(1, t) ? 'P' : 'G');
            synchronized (seen) {
                seen.add(s.toString());
            }
            return null;
        });
        Generator.generate(model, List.of(new int[] {2, 5, 6, 7}, new int[] {2, 8}), GenerationConfig.greedy(3), h);
        assertEquals(List.of("ppPP", "G", "G"), seen);
    }

    @Test
    void hooksBelongToTheCallNotTheModel() throws Exception {
        // Two threads share the model; each counts only its own hook calls, and one modifies its stream.
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (Tensor clean = model.forward(IDS, Hooks.NONE)) {
            AtomicInteger countA = new AtomicInteger(), countB = new AtomicInteger();
            List<Future<Boolean>> results = new ArrayList<>();
            for (int round = 0; round < 10; round++) {
                results.add(pool.submit(() -> {
                    Hooks h = Hooks.of("blocks.0.hook_resid_post", (p, a, ctx) -> {
                        countA.incrementAndGet();
                        return a.mul(new Scalar(2.0));
                    });
                    try (Tensor t = model.forward(IDS, h)) {
                        return !t.equal(clean);
                    }
                }));
                results.add(pool.submit(() -> {
                    Hooks h = Hooks.of("blocks.1.hook_resid_post", (p, a, ctx) -> {
                        countB.incrementAndGet();
                        return null;
                    });
                    try (Tensor t = model.forward(IDS, h)) {
                        return t.equal(clean);
                    }
                }));
            }
            for (Future<Boolean> f : results) assertTrue(f.get());
            assertEquals(10, countA.get());
            assertEquals(10, countB.get());
        } finally {
            pool.shutdown();
        }
    }

    /** all(which) is true exactly when mask(which) selects every position (the fused hook then passes no mask). */
    @Test
    void allAgreesWithMask() {
        HookContext[] contexts = {
            new HookContext(0, 6, new int[] {0}, 6),          // prefill of one unpadded prompt
            new HookContext(6, 1, new int[] {0}, 6),          // a decode step
            new HookContext(0, 6, new int[] {0, 2}, 6),       // a left-padded batch
            new HookContext(7, 1, new int[] {0, 2}, 6),       // its decode step: no padding in view
            new HookContext(4, 4, new int[] {0, 1}, 6),       // prompt and generated positions together
        };
        int allCount = 0;
        for (HookContext ctx : contexts) {
            for (HookContext.Positions which : HookContext.Positions.values()) {
                boolean every;
                try (Tensor m = ctx.mask(which)) {
                    every = m.sum().item_long() == m.numel();
                }
                assertEquals(every, ctx.all(which), which + " at start " + ctx.start() + " length " + ctx.length());
                if (every) allCount++;
            }
        }
        assertTrue(allCount > 0 && allCount < contexts.length * 3, "both outcomes exercised");
    }
}
