#!/usr/bin/env python3
"""CUDA kernel variants off vs on, from `sas_bench --ab` CSVs (gpu-check.sh writes sas_bench-ab-*.csv).

    python3 native/bench/ab_report.py DIR            # DIR holds sas_bench-ab-*.csv (and torch-baseline.csv)
    python3 native/bench/ab_report.py --winners DIR  # one NAME=1 line per variant that wins (below)

For every variant (kernels/src/variants.h; and the combination of a kernel's variants) and every shape
measured both ways in one process: the time with the kernel's variants off ("default" below), with the
variant on ("opt-in"), and default / opt-in (> 1: the variant is faster), single calls and back to back;
encode (dense and sparse) adds % of the copy peak, top-k and the subset encode the PyTorch time over each (top-k's target is >= 2x), the fused step the
dense baseline over each (targets: >= 10x at m = 16k, >= 500x at 1M).

--winners: a variant wins when, over all the shapes it ran at alone, the geometric mean of default /
opt-in is above 1.02 for single calls and for back-to-back calls (where measured; for SAS_CUDA_PDL,
which only overlaps a launch with the kernel before it, back to back alone; for SAS_CUDA_STEER_PREFETCH,
which only helps a step whose operands are out of L2, the cold calls alone), no shape is more
than 10% slower (single, back to back or cold), and its output agreed with the default's at every shape (sas_bench --ab compares them). It only reads times: gpu-check.sh asks for winners only after ctest and
torch_contract.py passed with every variant on. Standard library only.
"""
import csv
import glob
import math
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


ENV = {"tc_gemv": "SAS_CUDA_TC_GEMV", "tc_wide": "SAS_CUDA_TC_WIDE", "gemv_xt": "SAS_CUDA_GEMV_XT",
       "tc_gemm": "SAS_CUDA_TC_GEMM",
       "splitk_one": "SAS_CUDA_SPLITK_ONE", "fast": "SAS_CUDA_TOPK_FAST",  # "fast": removed, in old runs
       "stage": "SAS_CUDA_TOPK_STAGE",
       "reg": "SAS_CUDA_TOPK_REG", "hist": "SAS_CUDA_TOPK_HIST", "split": "SAS_CUDA_SPARSE_SPLIT",
       "subset_gemm": "SAS_CUDA_SUBSET_GEMM", "topk_act": "SAS_CUDA_TOPK_ACT",
       "one": "SAS_CUDA_STEER_ONE", "cluster": "SAS_CUDA_STEER_CLUSTER", "pdl": "SAS_CUDA_PDL",
       "prefetch": "SAS_CUDA_STEER_PREFETCH"}

# Variants judged on back-to-back calls alone: programmatic dependent launch overlaps a kernel's launch
# with the kernel before it in the stream, which a single call from an idle stream does not have.
B2B_ONLY = {"pdl"}
# Variants judged on cold calls alone (sas_bench's time_cold_ms: the step's operands evicted from L2, as
# between two steps of a decode loop): requesting operands early gains nothing where they are in L2.
COLD_ONLY = {"prefetch"}


def cold(r):
    """The row's cold time in ms (0: not measured, or a CSV from before sas_bench had the column)."""
    return float(r.get("cold_ms") or 0)


def disagrees(r):
    """Whether sas_bench --ab found this row's output different from the variants-off one (newer CSVs)."""
    compared = int(r.get("compared") or -1)
    return compared >= 0 and (int(r.get("differ") or 0) > 0 or int(r.get("flips") or 0) * 10000 > compared)


def winners(shapes):
    """The variables of the variants that win (see the module's doc), from {shape: {variant: row}}."""
    per = {}  # label -> [(single ratio, b2b ratio or None, cold ratio or None)]
    wrong = set()  # labels with an output that disagrees with the variants-off one (sas_bench's check)
    for rows in shapes.values():
        base = next((r for v, r in rows.items() if "+" not in v), None)
        if base is None:
            continue
        for v, r in rows.items():
            parts = v.split("+")[1:]
            if len(parts) != 1:
                continue
            if disagrees(r):
                wrong.add(parts[0].strip())
            a, b = float(base["time_ms"]), float(r["time_ms"])
            ab, bb = float(base["b2b_ms"] or 0), float(r["b2b_ms"] or 0)
            ac, bc = cold(base), cold(r)
            if a > 0 and b > 0:
                per.setdefault(parts[0].strip(), []).append(
                    (a / b, ab / bb if ab > 0 and bb > 0 else None, ac / bc if ac > 0 and bc > 0 else None))
    out = []
    for label, ratios in sorted(per.items()):
        single = [s for s, _, _ in ratios]
        b2b = [b for _, b, _ in ratios if b is not None]
        colds = [c for _, _, c in ratios if c is not None]
        gmean = lambda xs: math.exp(sum(math.log(x) for x in xs) / len(xs))
        if label in COLD_ONLY:
            ok = (bool(colds) and gmean(colds) > 1.02 and min(colds) >= 0.9 and min(single) >= 0.9
                  and (not b2b or min(b2b) >= 0.9))
        elif label in B2B_ONLY:
            ok = bool(b2b) and gmean(b2b) > 1.02 and min(b2b) >= 0.9 and min(single) >= 0.9
        else:
            ok = gmean(single) > 1.02 and min(single) >= 0.9 and (not b2b or (gmean(b2b) > 1.02 and min(b2b) >= 0.9))
        if ok and label in ENV and label not in wrong:
            out.append(f"{ENV[label]}=1")
    return out


def main():
    args = sys.argv[1:]
    want_winners = "--winners" in args
    args = [a for a in args if a != "--winners"]
    if len(args) != 1:
        sys.exit(__doc__)
    root = args[0]
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
    if want_winners:
        for line in winners(shapes):
            print(line)
        return
    out = []
    for kernel in ("encode_dense", "encode_sparse", "encode_topk", "encode_subset", "topk_rows", "topk_abs",
                   "steer_fused"):
        keys = sorted(k for k in shapes if k[0] == kernel)
        labels = sorted({v for k in keys for v in shapes[k] if "+" in v}, key=lambda v: (v.count("+"), v))
        for label in labels:
            both = [k for k in keys if label in shapes[k] and any("+" not in v for v in shapes[k])]
            if not both:
                continue
            out.append(f"\n### {kernel}: default vs `{label}`\n")
            extra = {"encode_dense": " % copy default | % copy opt-in |",
                     "encode_sparse": " % copy default | % copy opt-in |",
                     "encode_topk": " % copy default | % copy opt-in |",
                     "steer_fused": " dense / default | dense / opt-in | dense / default b2b | dense / opt-in b2b |"
                                    " default cold | opt-in cold | default / opt-in cold |",
                     "encode_subset": " torch / default | torch / opt-in |",
                     "topk_rows": " torch / default | torch / opt-in |",
                     "topk_abs": " torch / default | torch / opt-in |"}[kernel]
            out.append("| dtype | d | m | n | s/k | default | opt-in | default / opt-in | default b2b | opt-in b2b | "
                       "default / opt-in b2b |" + extra)
            out.append("|---|" + "---:|" * (10 + extra.count("|")))
            wins = 0
            bad = 0
            for k in both:
                a = next(r for v, r in shapes[k].items() if "+" not in v)
                b = shapes[k][label]
                wins += float(b["time_ms"]) < float(a["time_ms"])
                bad += disagrees(b)
                line = (f"| {k[1]} | {k[2] or '-'} | {k[3]} | {k[4]} | {k[5] or '-'} | {us(a['time_ms'])} | "
                        f"{us(b['time_ms'])} | **{ratio(a['time_ms'], b['time_ms'])}** | "
                        f"{us(a['b2b_ms']) if float(a['b2b_ms']) else '-'} | "
                        f"{us(b['b2b_ms']) if float(b['b2b_ms']) else '-'} | {ratio(a['b2b_ms'], b['b2b_ms'])} |")
                if kernel in ("encode_dense", "encode_sparse", "encode_topk"):
                    line += f" {float(a['pct_peak']):.0f}% | {float(b['pct_peak']):.0f}% |"
                elif kernel == "steer_fused":
                    line += (f" {ratio(a['dense_ms'], a['time_ms'])} | {ratio(b['dense_ms'], b['time_ms'])} | "
                             f"{ratio(a['dense_b2b_ms'], a['b2b_ms'])} | {ratio(b['dense_b2b_ms'], b['b2b_ms'])} | "
                             f"{us(cold(a)) if cold(a) else '-'} | {us(cold(b)) if cold(b) else '-'} | "
                             f"{ratio(cold(a), cold(b))} |")
                else:
                    t = torch.get((kernel, str(k[3]), str(k[4]), str(k[5])))
                    line += f" {ratio(t, a['time_ms']) if t else '-'} | {ratio(t, b['time_ms']) if t else '-'} |"
                out.append(line)
            out.append(f"\nopt-in faster in {wins} of {len(both)} shapes (single calls); "
                       + (f"**its output differs from the default's in {bad} shapes** (sas_bench's DIFFER lines)."
                          if bad else "its output agrees with the default's wherever sas_bench compared them."))
    print("\n".join(out).lstrip("\n"))


if __name__ == "__main__":
    main()
