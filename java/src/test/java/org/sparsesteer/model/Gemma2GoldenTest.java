package org.sparsesteer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparsesteer.Fixtures;
import org.sparsesteer.hooks.Capture;
import org.sparsesteer.io.SafetensorsFile;
import org.sparsesteer.tensor.Tensors;

/** Our forward pass against what Google's reference implementation computed for the tiny-a fixture. */
class Gemma2GoldenTest {
    static Gemma2 model;
    static SafetensorsFile golden;

    @BeforeAll
    static void load() {
        model = Gemma2.load(Fixtures.tinyA());
        golden = SafetensorsFile.open(Fixtures.tinyA().resolve("golden.safetensors"));
    }

    @AfterAll
    static void close() {
        model.close();
        golden.close();
    }

    @Test
    void logitsAndEveryLayerMatchTheReference() {
        for (int s = 0; s < 2; s++) {
            int[] ids = Fixtures.toInts(golden.readLongs("seq" + s + ".input_ids"));
            String[] names = new String[model.config().numLayers() + 1];
            names[0] = "hook_embed";
            for (int l = 0; l < model.config().numLayers(); l++) names[l + 1] = "blocks." + l + ".hook_resid_post";
            try (Capture cap = new Capture(names); Tensor logits = model.forward(ids, cap.hooks())) {
                double dl = Fixtures.maxAbsDiff(golden.readFloats("seq" + s + ".logits"), Tensors.toFloats(logits));
                assertTrue(dl < 1e-4, "seq" + s + " logits differ by " + dl);
                double de = Fixtures.maxAbsDiff(golden.readFloats("seq" + s + ".embed"), Tensors.toFloats(cap.get("hook_embed")));
                assertTrue(de < 1e-4, "seq" + s + " embedding differs by " + de);
                for (int l = 0; l < model.config().numLayers(); l++) {
                    float[] want = golden.readFloats("seq" + s + ".resid_post." + l);
                    double d = Fixtures.maxAbsDiff(want, Tensors.toFloats(cap.get("blocks." + l + ".hook_resid_post")));
                    assertTrue(d < 1e-4, "seq" + s + " resid_post." + l + " differs by " + d);
                }
            }
        }
    }
}
