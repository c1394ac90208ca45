#!/usr/bin/env python3
"""Default vs opt-in CUDA variants, from `sas_bench --ab` CSVs (gpu-check.sh writes sas_bench-ab-*.csv).

    python3 native/bench/ab_report.py DIR     # DIR holds sas_bench-ab-*.csv (and torch-baseline.csv, optional)

For every opt-in (and the combination of a kernel's opt-ins) and every shape measured both ways in one
process: the default's time, the opt-in's, and default / opt-in
(> 1: the opt-in is faster), single calls and back to back; encode adds % of the copy peak, top-k the
PyTorch time over each (the target is >= 2x), the fused step the dense baseline over each (targets: >= 10x
at m = 16k, >= 500x at 1M). Standard library only.
"""
import csv
import glob
import os
import sys


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def us(ms):
    ms = float(ms)
    return f"{ms * 1e3:.1f} us" if ms < 1 else f"{ms:.2f} ms"


def ratio(a, b):
    a, b = float(a), float(b)
    return f"{a / b:.2f}x" if a > 0 and b > 0 else "-"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    rows = [r for f in sorted(glob.glob(os.path.join(root, "sas_bench-ab-*.csv"))) for r in read(f)]
    tpath = os.path.join(root, "torch-baseline.csv")
    torch = {}
    if os.path.exists(tpath):
        torch = {(r["op"], r["m"], r["n"], r["s_or_k"]): float(r["ms"]) for r in read(tpath) if r["note"] == "ok"}
    shapes = {}  # (kernel, dtype, d, m, n, sk) -> {variant: row}
    for r in rows:
        if r["kernel"] == "dense enc+dec":
            continue
        key = (r["kernel"], r["dtype"], int(r["d"]), int(r["m"]), int(r["n"]), int(r["s_or_k"]))
        shapes.setdefault(key, {})[r["variant"]] = r
    if not shapes:
        sys.exit(f"no sas_bench-ab-*.csv rows under {root}")
    out = []
    for kernel in ("encode_dense", "topk_rows", "topk_abs", "steer_fused"):
        keys = sorted(k for k in shapes if k[0] == kernel)
        labels = sorted({v for k in keys for v in shapes[k] if "+" in v}, key=lambda v: (v.count("+"), v))
        for label in labels:
            both = [k for k in keys if label in shapes[k] and any("+" not in v for v in shapes[k])]
            if not both:
                continue
            out.append(f"\n### {kernel}: default vs `{label}`\n")
            extra = {"encode_dense": " % copy default | % copy opt-in |",
                     "steer_fused": " dense / default | dense / opt-in | dense / default b2b | dense / opt-in b2b |",
                     "topk_rows": " torch / default | torch / opt-in |",
                     "topk_abs": " torch / default | torch / opt-in |"}[kernel]
            out.append("| dtype | d | m | n | s/k | default | opt-in | default / opt-in | default b2b | opt-in b2b | "
                       "default / opt-in b2b |" + extra)
            out.append("|---|" + "---:|" * (10 + extra.count("|")))
            wins = 0
            for k in both:
                a = next(r for v, r in shapes[k].items() if "+" not in v)
                b = shapes[k][label]
                wins += float(b["time_ms"]) < float(a["time_ms"])
                line = (f"| {k[1]} | {k[2] or '-'} | {k[3]} | {k[4]} | {k[5] or '-'} | {us(a['time_ms'])} | "
                        f"{us(b['time_ms'])} | **{ratio(a['time_ms'], b['time_ms'])}** | "
                        f"{us(a['b2b_ms']) if float(a['b2b_ms']) else '-'} | "
                        f"{us(b['b2b_ms']) if float(b['b2b_ms']) else '-'} | {ratio(a['b2b_ms'], b['b2b_ms'])} |")
                if kernel == "encode_dense":
                    line += f" {float(a['pct_peak']):.0f}% | {float(b['pct_peak']):.0f}% |"
                elif kernel == "steer_fused":
                    line += (f" {ratio(a['dense_ms'], a['time_ms'])} | {ratio(b['dense_ms'], b['time_ms'])} | "
                             f"{ratio(a['dense_b2b_ms'], a['b2b_ms'])} | {ratio(b['dense_b2b_ms'], b['b2b_ms'])} |")
                else:
                    t = torch.get((kernel, str(k[3]), str(k[4]), str(k[5])))
                    line += f" {ratio(t, a['time_ms']) if t else '-'} | {ratio(t, b['time_ms']) if t else '-'} |"
                out.append(line)
            out.append(f"\nopt-in faster in {wins} of {len(both)} shapes (single calls).")
    print("\n".join(out).lstrip("\n"))


if __name__ == "__main__":
    main()
