package org.sparsesteer.model;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsesteer.Fixtures;
import org.sparsesteer.hooks.Hooks;
import org.sparsesteer.io.SafetensorsFile;
import org.sparsesteer.io.SafetensorsWriter;

/** Bad checkpoints and inputs give exceptions that name the file, tensor or field; the JVM lives on. */
class BadInputTest {
    @TempDir
    Path dir;

    private Path copyFixture() throws IOException {
        Path m = dir.resolve("model");
        Files.createDirectories(m);
        Files.copy(Fixtures.tinyA().resolve("config.json"), m.resolve("config.json"));
        Files.copy(Fixtures.tinyA().resolve("model.safetensors"), m.resolve("model.safetensors"));
        return m;
    }

    private void editConfig(Path m, java.util.function.Consumer<ObjectNode> edit) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode cfg = (ObjectNode) json.readTree(m.resolve("config.json").toFile());
        edit.accept(cfg);
        json.writeValue(m.resolve("config.json").toFile(), cfg);
    }

    private static void assertMessage(RuntimeException e, String... parts) {
        for (String p : parts) assertTrue(e.getMessage().contains(p), "'" + p + "' not in: " + e.getMessage());
    }

    @Test
    void configMissingAField() throws IOException {
        Path m = copyFixture();
        editConfig(m, c -> c.remove("hidden_size"));
        assertMessage(assertThrows(ModelException.class, () -> Gemma2.load(m)), "config.json", "hidden_size");
    }

    @Test
    void shapeDisagreesWithConfig() throws IOException {
        Path m = copyFixture();
        editConfig(m, c -> c.put("intermediate_size", 96));
        assertMessage(assertThrows(ModelException.class, () -> Gemma2.load(m)), "model.safetensors", "mlp.gate_proj.weight", "[128, 64]", "[96, 64]");
    }

    @Test
    void missingTensor() throws IOException {
        Path m = copyFixture();
        Path st = m.resolve("model.safetensors");
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(st)) {
            for (String name : f.tensors().keySet()) {
                if (name.equals("model.layers.3.mlp.up_proj.weight")) continue;
                try (Tensor t = f.load(name)) {
                    w.add(name, t);
                }
            }
        }
        w.write(st);
        assertMessage(assertThrows(ModelException.class, () -> Gemma2.load(m)), "model.layers.3.mlp.up_proj.weight", "missing");
    }

    @Test
    void truncatedCheckpoint() throws IOException {
        Path m = copyFixture();
        Path st = m.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(st);
        Files.write(st, java.util.Arrays.copyOf(all, all.length - 1000));
        RuntimeException e = assertThrows(RuntimeException.class, () -> Gemma2.load(m));
        assertMessage(e, "model.safetensors", "truncated");
    }

    @Test
    void shardedCheckpointLoadsAndMatches() throws IOException {
        Path m = copyFixture();
        Path st = m.resolve("model.safetensors");
        SafetensorsWriter a = new SafetensorsWriter(), b = new SafetensorsWriter();
        StringBuilder index = new StringBuilder("{\"metadata\":{},\"weight_map\":{");
        try (SafetensorsFile f = SafetensorsFile.open(st)) {
            int i = 0;
            for (String name : f.tensors().keySet()) {
                String shard = i++ % 2 == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
                try (Tensor t = f.load(name)) {
                    (shard.contains("00001-") ? a : b).add(name, t);
                }
                index.append(i > 1 ? "," : "").append('"').append(name).append("\":\"").append(shard).append('"');
            }
        }
        index.append("}}");
        a.write(m.resolve("model-00001-of-00002.safetensors"));
        b.write(m.resolve("model-00002-of-00002.safetensors"));
        Files.writeString(m.resolve("model.safetensors.index.json"), index);
        Files.delete(st);
        int[] ids = {2, 17, 301, 5};
        try (Gemma2 sharded = Gemma2.load(m); Gemma2 single = Gemma2.load(Fixtures.tinyA());
             Tensor x = sharded.forward(ids, Hooks.NONE); Tensor y = single.forward(ids, Hooks.NONE)) {
            assertTrue(x.equal(y), "sharded checkpoint gives other logits");
        }
    }

    @Test
    void tokenIdsOutOfRangeAndBadHooks() {
        try (Gemma2 model = Gemma2.load(Fixtures.tinyA())) {
            assertMessage(assertThrows(IllegalArgumentException.class, () -> model.forward(new int[] {2, 512}, Hooks.NONE)), "512", "vocabulary");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> model.forward(new int[] {2, -1}, Hooks.NONE)), "-1");
            assertMessage(assertThrows(IllegalArgumentException.class,
                    () -> model.forward(new int[] {2, 3}, Hooks.of("blocks.4.hook_resid_post", (p, a, c) -> null))), "blocks.4.hook_resid_post", "4 layers");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Hooks.of("blocks.1.resid_post", (p, a, c) -> null)), "blocks.1.resid_post");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> TokenBatch.leftPadded(List.of(new int[0]), 0)), "empty");
            // after all that, the model still works
            try (Tensor ok = model.forward(new int[] {2, 3}, Hooks.NONE)) {
                assertTrue(ok.size(0) == 2);
            }
        }
    }

    @Test
    void notAModelDirectory() {
        assertMessage(assertThrows(ModelException.class, () -> Gemma2.load(dir.resolve("absent"))), "absent");
        assertMessage(assertThrows(ModelException.class, () -> Gemma2.load(dir)), "config.json");
    }
}
