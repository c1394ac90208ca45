#!/usr/bin/env python3
"""Issue 4's GPU targets against one gpu-check.sh run: each target, the cells it covers, how many meet it.

    python3 native/bench/targets_report.py DIR    # DIR: sas_bench-cuda.csv, torch-baseline.csv, sas_bench-ab-*.csv

The targets (written for an H100; the bar is the same on any GPU): encode >= 85% of the copy peak for
n <= 16; top-k >= 2x torch.topk; the fused step >= 10x dense encode + decode at m = 16k, s <= 64; and
>= 500x at m = 1M, s <= 64. Each is judged on the grid (sas_bench --full, the kernels as they ran) and,
for every kernel variant timed by sas_bench --ab, on the A/B rows with the variant on beside the same
rows with it off, so a variant's effect on a target reads directly. Single calls and back-to-back
calls (b2b) are counted separately. Then the floors sas_bench measured in the same process (one empty
launch; one read of W_enc per size), so a miss reads as far from the target or at the device's limit. Every ratio pairs two numbers of the same run. Standard library only.
"""
import csv
import glob
import os
import sys

ENCODE_PCT, TOPK_X, FUSED_16K_X, FUSED_1M_X = 85.0, 2.0, 10.0, 500.0
ES = {"bf16": 2, "f16": 2, "f32": 4}  # bytes per element


def read(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def variant_of(row):
    """The variants a row ran with: the ' +label' parts of sas_bench's variant column ('' = none)."""
    return "+".join(sorted(p.strip() for p in row["variant"].split("+")[1:]))


def span(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}-{fmt(hi)}"


def judge(cells, bar):
    """cells: [(label, value or None)]; -> 'k of n', the values' span, the labels that miss."""
    have = [(lab, v) for lab, v in cells if v is not None]
    met = [lab for lab, v in have if v >= bar]
    miss = [f"{lab} ({v:.3g})" for lab, v in have if v < bar]
    return len(met), len(have), miss


def targets(rows, torch):
    """The four targets over `rows` (one configuration's rows): [(target, unit, bar, [(label, value)] x2)]."""
    def f(r, k):
        return float(r[k]) if r.get(k) not in (None, "") else 0.0

    enc = [r for r in rows if r["kernel"] == "encode_dense" and int(r["n"]) <= 16]
    enc_cells = [(f"d={r['d']} m={r['m']} n={r['n']}", f(r, "pct_peak")) for r in enc]
    enc_b2b = [(f"d={r['d']} m={r['m']} n={r['n']}",
                f(r, "pct_peak") * f(r, "time_ms") / f(r, "b2b_ms") if f(r, "b2b_ms") > 0 else None) for r in enc]
    tk, tk_b2b = [], []
    for r in rows:
        if r["kernel"] not in ("topk_rows", "topk_abs"):
            continue
        t = torch.get((r["kernel"], r["m"], r["n"], r["s_or_k"]))
        lab = f"{r['kernel'][5:]} m={r['m']} n={r['n']} k={r['s_or_k']}"
        tk.append((lab, t / f(r, "time_ms") if t else None))
        tk_b2b.append((lab, t / f(r, "b2b_ms") if t and f(r, "b2b_ms") > 0 else None))
    out = [("encode >= 85% of the copy peak, n <= 16", "% of peak", ENCODE_PCT, enc_cells, enc_b2b),
           ("top-k >= 2x torch.topk", "x torch", TOPK_X, tk, tk_b2b)]
    for m, bar in (("16384", FUSED_16K_X), ("1048576", FUSED_1M_X)):
        fu = [r for r in rows if r["kernel"] == "steer_fused" and r["m"] == m and int(r["s_or_k"]) <= 64]
        single = [(f"d={r['d']} n={r['n']} s={r['s_or_k']}", f(r, "dense_ms") / f(r, "time_ms")) for r in fu]
        b2b = [(f"d={r['d']} n={r['n']} s={r['s_or_k']}",
                f(r, "dense_b2b_ms") / f(r, "b2b_ms") if f(r, "b2b_ms") > 0 and f(r, "dense_b2b_ms") > 0 else None)
               for r in fu]
        out.append((f"fused >= {bar:.0f}x dense encode + decode at m = {int(m) // 1024}k, s <= 64", "x dense", bar,
                    single, b2b))
    return out


def table(title, rows, torch, out):
    """Appends one table; nothing when `rows` touch no target (say a variant for n > 16 only)."""
    lines = []
    for name, unit, bar, single, b2b in targets(rows, torch):
        if not any(v is not None for _, v in single):
            continue
        k1, n1, miss = judge(single, bar)
        k2, n2, _ = judge(b2b, bar)
        fmt = (lambda v: f"{v:.0f}%") if unit.startswith("%") else (lambda v: f"{v:.1f}x")
        shown = ", ".join(miss[:6]) + (f", ... ({len(miss)} in all)" if len(miss) > 6 else "")
        lines.append(f"| {name} | {k1} of {n1} | {span([v for _, v in single], fmt)} | "
                     f"{k2} of {n2} | {span([v for _, v in b2b], fmt)} | {shown or '-'} |")
    if lines:
        out += [f"\n### {title}\n", "| target | single: met | single | b2b: met | b2b | misses (single) |",
                "|---|---:|---|---:|---|---|"] + lines


def floors(rows, out):
    """What the device allows at these sizes, measured by sas_bench in the same process as the kernels: one
    empty launch (the floor of any one-launch call) and one read of W_enc per (d, m) (the encoder's floor);
    then the encoder's n <= 16 cells against that read, and the fused 16k cells' single-call bar beside the
    launch floor. Context for the targets, not a target."""
    def f(r, k):
        return float(r[k]) if r.get(k) not in (None, "") else 0.0

    launch = [r for r in rows if r["kernel"] == "launch_probe"]
    reads = {(r["d"], r["m"]): r for r in rows if r["kernel"] == "read_probe"}
    if not launch and not reads:
        return
    lines = ["\n### The floors, measured in the same run (context, not targets)\n",
             "| floor | single | b2b | single: % of copy peak | b2b: % of copy peak |", "|---|---:|---:|---:|---:|"]
    for r in launch[:1]:
        lines.append(f"| one empty kernel launch | {us(f(r, 'time_ms'))} | {us(f(r, 'b2b_ms'))} | - | - |")
    for (d, m), r in sorted(reads.items(), key=lambda kv: (int(kv[0][0]), int(kv[0][1]))):
        b2b_pct = f(r, "pct_peak") * f(r, "time_ms") / f(r, "b2b_ms") if f(r, "b2b_ms") > 0 else None
        lines.append(f"| read W_enc once, d={d} m={m} ({int(d) * int(m) * ES.get(r['dtype'], 4) / 1e6:.0f} MB {r['dtype']}) | {us(f(r, 'time_ms'))} | "
                     f"{us(f(r, 'b2b_ms'))} | {f(r, 'pct_peak'):.0f}% | {'-' if b2b_pct is None else f'{b2b_pct:.0f}%'} |")
    enc = [r for r in rows if r["kernel"] == "encode_dense" and int(r["n"]) <= 16 and (r["d"], r["m"]) in reads]
    if enc:
        single = [(f"d={r['d']} m={r['m']} n={r['n']}", 100 * f(reads[(r["d"], r["m"])], "time_ms") / f(r, "time_ms"))
                  for r in enc]
        b2b = [(lab, 100 * f(reads[(r["d"], r["m"])], "b2b_ms") / f(r, "b2b_ms") if f(r, "b2b_ms") > 0 else None)
               for (lab, _), r in zip(single, enc)]
        k1, n1, miss = judge(single, ENCODE_PCT)
        k2, n2, _ = judge(b2b, ENCODE_PCT)
        fmt = lambda v: f"{v:.0f}%"
        lines.append(f"\nThe encoder at n <= 16 against reading W_enc once (read time / encode time): single "
                     f"{span([v for _, v in single], fmt)}, {k1} of {n1} cells at >= {ENCODE_PCT:.0f}%; back to back "
                     f"{span([v for _, v in b2b], fmt)}, {k2} of {n2}." + (f" Below: {', '.join(miss[:6])}." if miss else ""))
    fu = [r for r in rows if r["kernel"] == "steer_fused" and r["m"] == "16384" and int(r["s_or_k"]) <= 64]
    if fu and launch:
        bars = [f(r, "dense_ms") / FUSED_16K_X for r in fu]
        lines.append(f"\nThe fused step at m = 16k, s <= 64 must take <= dense / {FUSED_16K_X:.0f} = "
                     f"{span(bars, us)} per single call; one empty launch takes {us(f(launch[0], 'time_ms'))} "
                     f"(b2b {us(f(launch[0], 'b2b_ms'))}).")
    # Runs since session 15: the fused step cold (sas_bench's time_cold_ms: right after a copy that evicts
    # its operands from L2, as in a decode loop, where the model's layers run between two steps), against
    # the dense step back to back (which streams W from memory either way).
    for m, bar in (("16384", FUSED_16K_X), ("1048576", FUSED_1M_X)):
        fc = [r for r in rows if r["kernel"] == "steer_fused" and r["m"] == m and int(r["s_or_k"]) <= 64
              and f(r, "cold_ms") > 0]
        if not fc:
            continue
        cells = [(f"d={r['d']} n={r['n']} s={r['s_or_k']}", f(r, "dense_b2b_ms") / f(r, "cold_ms")) for r in fc]
        k, n, miss = judge(cells, bar)
        lines.append(f"\nThe fused step cold (operands out of L2, as in a decode loop) at m = {int(m) // 1024}k, s <= 64: "
                     f"{span([f(r, 'cold_ms') for r in fc], us)} per step, dense b2b / fused cold "
                     f"{span([v for _, v in cells], lambda v: f'{v:.1f}x')}, {k} of {n} cells at >= {bar:.0f}x."
                     + (f" Below: {', '.join(miss[:6])}." if miss else ""))
    out += lines


def us(ms):
    return f"{ms * 1e3:.1f} us" if ms < 1 else f"{ms:.2f} ms"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    torch = {(r["op"], r["m"], r["n"], r["s_or_k"]): float(r["ms"])
             for r in read(os.path.join(root, "torch-baseline.csv")) if r["note"] == "ok"}
    grid = [r for r in read(os.path.join(root, "sas_bench-cuda.csv")) if r["dtype"] == "bf16"]
    out = []
    if grid:
        used = sorted({variant_of(r) for r in grid} - {""})
        table("The grid (sas_bench --full, bf16)" + (f"; variants on: {', '.join(used)}" if used else ""),
              grid, torch, out)
        floors(grid, out)
    ab = [r for f in sorted(glob.glob(os.path.join(root, "sas_bench-ab-*.csv"))) for r in read(f)]
    for label in sorted({variant_of(r) for r in ab} - {""}, key=lambda v: (v.count("+"), v)):
        # The shapes this variant (or combination) ran at, with and without it.
        on = [r for r in ab if variant_of(r) == label]
        shapes = {(r["kernel"], r["dtype"], r["d"], r["m"], r["n"], r["s_or_k"]) for r in on}
        off = [r for r in ab if variant_of(r) == "" and (r["kernel"], r["dtype"], r["d"], r["m"], r["n"],
                                                            r["s_or_k"]) in shapes]
        table(f"A/B `{label}`: variants off", off, torch, out)
        table(f"A/B `{label}`: on", on, torch, out)
    if ab and not grid:  # the variants-off rows (the probes have no variant)
        floors([r for r in ab if variant_of(r) == ""], out)
    if not out:
        sys.exit(f"no sas_bench-cuda.csv or sas_bench-ab-*.csv rows under {root}")
    print("\n".join(out).lstrip("\n"))


if __name__ == "__main__":
    main()
