package org.sparsesteer.hooks;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The hooks of one forward or generation call. Hooks belong to the call, not the model, so threads
 * sharing a model never see each other's hooks. An empty set costs one branch per hook point.
 */
public final class Hooks {
    public static final Hooks NONE = new Hooks(Map.of());

    private final Map<HookPoint, List<Hook>> byPoint;

    private Hooks(Map<HookPoint, List<Hook>> byPoint) {
        this.byPoint = byPoint;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A set with one hook. */
    public static Hooks of(String name, Hook hook) {
        return builder().add(name, hook).build();
    }

    public boolean isEmpty() {
        return byPoint.isEmpty();
    }

    /** The hooks at a point, in the order they were added (empty list when none). */
    public List<Hook> at(HookPoint point) {
        return byPoint.getOrDefault(point, List.of());
    }

    public java.util.Set<HookPoint> points() {
        return byPoint.keySet();
    }

    /** Throws, naming the hook, unless every point exists in a model with this many layers. */
    public void checkExist(int numLayers) {
        for (HookPoint p : byPoint.keySet()) p.checkExists(numLayers);
    }

    /** This set followed by another's hooks (at a shared point, this set's hooks run first). */
    public Hooks and(Hooks other) {
        Builder b = new Builder();
        byPoint.forEach((p, l) -> l.forEach(h -> b.add(p, h)));
        other.byPoint.forEach((p, l) -> l.forEach(h -> b.add(p, h)));
        return b.build();
    }

    public static final class Builder {
        private final Map<HookPoint, List<Hook>> map = new LinkedHashMap<>();

        public Builder add(String name, Hook hook) {
            return add(HookPoint.parse(name), hook);
        }

        public Builder add(HookPoint point, Hook hook) {
            if (hook == null) throw new IllegalArgumentException("hook for '" + point + "' is null");
            map.computeIfAbsent(point, p -> new ArrayList<>()).add(hook);
            return this;
        }

        public Hooks build() {
            Map<HookPoint, List<Hook>> m = new LinkedHashMap<>();
            map.forEach((p, l) -> m.put(p, Collections.unmodifiableList(new ArrayList<>(l))));
            return new Hooks(Collections.unmodifiableMap(m));
        }
    }
}
