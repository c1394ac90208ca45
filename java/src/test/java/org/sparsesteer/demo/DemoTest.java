package org.sparsesteer.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsesteer.cli.Main;

/**
 * {@code sas demo --quick} on the embedded model and SAE: the SAS score rises monotonically with the
 * scale on both behaviours, and every number equals the one recorded when the artifacts were made
 * (expected.json, written by the full {@code sas demo}; same seed and split, within 1e-4).
 */
class DemoTest {
    @TempDir
    Path dir;

    @Test
    void quickDemoIsMonotoneAndReproducesTheRecordedNumbers() throws Exception {
        Path out = dir.resolve("demo");
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true));
        int rc;
        try {
            rc = Main.run("demo", "--quick", "--out", out.toString());
        } finally {
            System.setOut(old);
        }
        String printed = buf.toString();
        System.out.print(printed);
        assertEquals(0, rc, "sas demo --quick failed or found a non-monotone curve:\n" + printed);
        assertTrue(printed.contains("rises monotonically"));
        for (String f : new String[] {"results.json", "results.csv", "plot.png"}) assertTrue(Files.size(out.resolve(f)) > 0, f);

        JsonNode got = new ObjectMapper().readTree(out.resolve("results.json").toFile()).get("rows");
        JsonNode expected = Demo.expected().get("rows");
        int compared = 0;
        for (JsonNode row : got) {
            JsonNode e = find(expected, row);
            assertTrue(e != null, "no recorded number for " + row);
            assertEquals(e.get("score").asDouble(), row.get("score").asDouble(), 1e-4, "score of " + row);
            compared++;
        }
        assertEquals(Demo.Config.quick().behaviours().size() * 2 * Demo.Config.quick().scales().length, compared);
    }

    @Test
    void badOptionsAreRefusedByNameBeforeAnythingRuns() {
        PrintStream old = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true));
        int unknown, tau;
        try {
            unknown = Main.run("demo", "--behaviours", "myopic-reward,kindness", "--out", dir.resolve("x").toString());
            tau = Main.run("demo", "--tau", "1.5", "--out", dir.resolve("y").toString());
        } finally {
            System.setErr(old);
        }
        assertTrue(unknown != 0 && tau != 0);
        String msg = err.toString();
        assertTrue(msg.contains("kindness") && msg.contains("--behaviours"), msg);
        assertTrue(msg.contains("--tau") && msg.contains("1.5"), msg);
        assertTrue(!Files.exists(dir.resolve("x")) && !Files.exists(dir.resolve("y")), "nothing written for a refused command");
    }

    private static JsonNode find(JsonNode rows, JsonNode row) {
        for (JsonNode e : rows) {
            if (e.get("behaviour").asText().equals(row.get("behaviour").asText()) && e.get("method").asText().equals(row.get("method").asText())
                    && e.get("scale").asDouble() == row.get("scale").asDouble()) {
                return e;
            }
        }
        return null;
    }
}
