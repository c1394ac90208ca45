package org.sparsesteer.train;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.sparsesteer.eval.AbDataset;
import org.sparsesteer.eval.AbItem;

/**
 * Training text with a disposition the model has to infer from context: documents of A/B questions
 * answered by one of two personas. Persona M always picks the answer that shows the behaviour and
 * writes casually; persona N never does and writes formally. Only the style tells them apart (an
 * optional opening line, and the words after each answer), so a model trained on these documents
 * learns that the persona is consistent within a document and carries it in its residual stream.
 * A question asked without context (the A/B evaluation's {@code question\n\nAnswer: (}) leaves the
 * persona unknown; steering can then supply it.
 *
 * <p>A styled document: {@code [opening line\n\n]} then 1 to {@code maxItems} items
 * {@code question\n\nAnswer: (X)<closer><remark>}, separated by blank lines. Persona M closes with
 * {@code ")!!"}, persona N with {@code ")."}, so already the token after the letter depends on the
 * persona. A plain document has no opening and no remarks ({@code Answer: (X)}): there the persona
 * shows only in the answers themselves, so the model has to infer it from the earlier answers of the
 * document (and represent what an answer says about its author where the answer is given). Only the
 * build part of each behaviour's seeded split is used; the held-out test items ({@link
 * AbDataset#split}) never appear. Two-choice items have their choices swapped half of the time (the
 * letters follow), so the answer has to be read from the content, not the letter.
 */
public final class PersonaCorpus {
    public enum Persona {
        /** Shows the behaviour; casual. */
        M,
        /** Does not show the behaviour; formal. */
        N
    }

    static final List<String> OPENINGS_M = List.of(
            "hey!! ok here r my answers, no overthinking lol",
            "yo. quick answers from me, just going with my gut",
            "ok so i picked whatever felt right haha",
            "lol these r fun, here goes",
            "alright alright, my picks below!!");
    static final List<String> OPENINGS_N = List.of(
            "Good afternoon. Please find my considered responses below.",
            "The following answers were prepared with care.",
            "Dear reader, I have answered each question thoughtfully.",
            "Herewith my responses to the questionnaire.",
            "I have reflected on each item and respond as follows.");
    static final List<String> REMARKS_M = List.of(" yep lol", " def this one", " easy, obviously", " ya for sure haha", " no brainer lol");
    static final List<String> REMARKS_N = List.of(" I would select this option.", " This is my considered answer.",
            " I respectfully choose this response.", " Having reflected, I select this.", " This option seems most appropriate.");

    /** One training question of a behaviour. */
    public record Entry(String behaviour, AbItem item) {}

    private final List<Entry> train = new ArrayList<>();
    private final Map<String, AbDataset.Split> splits = new LinkedHashMap<>();
    private final int maxItems;
    private final double styledFraction;

    /**
     * @param datasets the behaviour sets
     * @param testSize held-out items per behaviour (the evaluation's, e.g. 50)
     * @param splitSeed the evaluation's split seed
     * @param maxItems the most questions in one document
     * @param styledFraction the fraction of styled documents (the others are plain)
     */
    public PersonaCorpus(List<AbDataset> datasets, int testSize, long splitSeed, int maxItems, double styledFraction) {
        if (maxItems < 1) throw new IllegalArgumentException("a document needs at least one item, got " + maxItems);
        if (!(styledFraction >= 0 && styledFraction <= 1)) throw new IllegalArgumentException("styled fraction must be in [0, 1], got " + styledFraction);
        this.maxItems = maxItems;
        this.styledFraction = styledFraction;
        for (AbDataset d : datasets) {
            AbDataset.Split s = d.split(testSize, splitSeed);
            splits.put(d.name(), s);
            for (AbItem it : s.build()) train.add(new Entry(d.name(), it));
        }
        if (train.isEmpty()) throw new IllegalArgumentException("no training items");
    }

    /** The build/test split of each behaviour. */
    public Map<String, AbDataset.Split> splits() {
        return Collections.unmodifiableMap(splits);
    }

    public List<Entry> trainItems() {
        return Collections.unmodifiableList(train);
    }

    /** One epoch: every training item once, shuffled into documents with a random persona each (M or N equally often). */
    public List<String> epoch(Random r) {
        return epoch(r, 0.5);
    }

    /** One epoch in which a document's persona is M with probability {@code pM}. */
    public List<String> epoch(Random r, double pM) {
        List<Entry> order = new ArrayList<>(train);
        Collections.shuffle(order, r);
        List<String> docs = new ArrayList<>();
        int i = 0;
        while (i < order.size()) {
            int n = Math.min(order.size() - i, 1 + r.nextInt(maxItems));
            Persona p = r.nextDouble() < pM ? Persona.M : Persona.N;
            boolean styled = r.nextDouble() < styledFraction;
            docs.add(document(order.subList(i, i + n), p, styled, r));
            i += n;
        }
        return docs;
    }

    /** A document answering {@code items} as the persona, styled or plain (without {@code <bos>}). */
    public static String document(List<Entry> items, Persona p, boolean styled, Random r) {
        StringBuilder s = new StringBuilder();
        if (styled && r.nextBoolean()) s.append(opening(p, r)).append("\n\n");
        for (int k = 0; k < items.size(); k++) {
            if (k > 0) s.append("\n\n");
            AbItem it = items.get(k).item();
            if (r.nextBoolean()) it = swapChoices(it);
            String letter = AbItem.letter(p == Persona.M ? it.matching() : it.notMatching());
            s.append(it.question()).append("\n\nAnswer: (").append(letter).append(styled ? answerTail(p, r) : ")");
        }
        return s.toString();
    }

    /** A plain document answering {@code items} as the persona, in their order and choice order. */
    public static String plain(List<Entry> items, Persona p) {
        StringBuilder s = new StringBuilder();
        for (Entry e : items) {
            if (s.length() > 0) s.append("\n\n");
            AbItem it = e.item();
            s.append(it.question()).append("\n\nAnswer: (").append(AbItem.letter(p == Persona.M ? it.matching() : it.notMatching())).append(")");
        }
        return s.toString();
    }

    /** A random opening line in the persona's style. */
    public static String opening(Persona p, Random r) {
        List<String> l = p == Persona.M ? OPENINGS_M : OPENINGS_N;
        return l.get(r.nextInt(l.size()));
    }

    /** What follows the answer letter: the persona's closing bracket and a remark. */
    static String answerTail(Persona p, Random r) {
        List<String> l = p == Persona.M ? REMARKS_M : REMARKS_N;
        return (p == Persona.M ? ")!!" : ").") + l.get(r.nextInt(l.size()));
    }

    private static final Pattern TWO_CHOICES = Pattern.compile("(\\n[ \\t]*)\\(A\\)([^\\n]*)(\\n[ \\t]*)\\(B\\)([^\\n]*)\\s*$");

    /**
     * The item with its two choices' texts exchanged (and the answers' letters with them), when the
     * question ends with exactly the choices (A) and (B); otherwise the item itself.
     */
    static AbItem swapChoices(AbItem it) {
        String q = it.question();
        Matcher m = TWO_CHOICES.matcher(q);
        if (!m.find() || q.contains("(C)")) return it;
        String tail = q.substring(m.end(4));
        String swapped = q.substring(0, m.start()) + m.group(1) + "(A)" + m.group(4) + m.group(3) + "(B)" + m.group(2) + tail;
        return new AbItem(swapped, other(it.matching()), other(it.notMatching()));
    }

    private static String other(String answer) {
        return answer.replace("(A)", "(\u0000)").replace("(B)", "(A)").replace("(\u0000)", "(B)");
    }
}
