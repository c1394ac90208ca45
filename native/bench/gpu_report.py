#!/usr/bin/env python3
"""Markdown tables from one gpu-check.sh run: sas_bench's grid beside the PyTorch composites.

    python3 native/bench/gpu_report.py DIR > RESULTS.md    # DIR holds sas_bench-cuda.csv, torch-baseline.csv

Every ratio pairs two rows measured in the same run on the same GPU. Standard library only.
"""
import csv
import os
import sys


def read(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def us(ms):
    ms = float(ms)
    return f"{ms * 1e3:.1f} us" if ms < 1 else f"{ms:.2f} ms"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    if not os.path.exists(os.path.join(root, "sas_bench-cuda.csv")):
        sys.exit(f"no sas_bench-cuda.csv under {root} (the --full grid did not run)")
    ours = read(os.path.join(root, "sas_bench-cuda.csv"))
    torch = {(r["op"], r["d"], r["m"], r["n"], r["s_or_k"]): r for r in read(os.path.join(root, "torch-baseline.csv"))}
    key = lambda r: (int(r["d"]), int(r["m"]), int(r["n"]), int(r["s_or_k"]))

    def tms(op, r, d=None, sk=None):
        t = torch.get((op, r["d"] if d is None else d, r["m"], r["n"], r["s_or_k"] if sk is None else sk))
        return float(t["ms"]) if t and t["note"] == "ok" else None

    out = []
    used = sorted({p.strip() for r in ours for p in r["variant"].split("+")[1:]})
    out.append("CUDA kernel variants on in this grid (kernels/src/variants.h; sas_bench's variant column): "
               + (", ".join(f"`{u}`" for u in used) if used else "none") + ".\n")
    out.append("### Encode (dense JumpReLU: x W_enc + b_enc, threshold; bf16 in, f32 out)\n")
    out.append("GB/s counts W_enc, x, the f32 output and b_enc/threshold once. `% of copy` is against sas_bench's "
               "own 1 GiB device copy (read + write counted) in the same process, so reads alone can pass 100%; "
               "torch = `addmm(b_enc, x, W_enc)` then `pre * (pre > thr)` (cuBLAS; it writes a bf16 output "
               "where sas writes f32).\n")
    out.append("`read` = sas_bench's read probe in the same process: W_enc read once and nothing else, the floor of an "
               "encoder that must read it (`-` in runs made before sas_bench had the probe).\n")
    reads = {(r["d"], r["m"]): float(r["time_ms"]) for r in ours if r["kernel"] == "read_probe"}
    out.append("| d | m | n | sas | GB/s | % of copy | read | read / sas | torch | torch / sas |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted((r for r in ours if r["kernel"] == "encode_dense"), key=key):
        t = tms("encode_dense", r, sk="0")
        ratio = f"{t / float(r['time_ms']):.2f}x" if t else "-"
        rd = reads.get((r["d"], r["m"]))
        eff = f"{100 * rd / float(r['time_ms']):.0f}%" if rd else "-"
        out.append(f"| {r['d']} | {r['m']} | {r['n']} | {us(r['time_ms'])} | {float(r['gbps']):.0f} | "
                   f"{float(r['pct_peak']):.0f}% | {us(rd) if rd else '-'} | {eff} | {us(t) if t else '-'} | {ratio} |")

    out.append("\n### Top-k (per row of an [n, m] f32 matrix; `abs` = the k largest |v| of one vector)\n")
    out.append("The rows are each run's JumpReLU codes (mostly zeros, so many ties); torch = `torch.topk(f, k, dim=1)` "
               "(sorted), `v[topk(|v|, k).indices]` for abs. b2b = back-to-back per-call time.\n")
    out.append("| kind | m | n | k | sas | sas b2b | torch | torch / sas |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted((r for r in ours if r["kernel"] in ("topk_rows", "topk_abs")),
                    key=lambda r: (r["kernel"], int(r["m"]), int(r["n"]), int(r["s_or_k"]))):
        t = tms(r["kernel"], r)
        ratio = f"**{t / float(r['time_ms']):.2f}x**" if t else "-"
        kind = "rows" if r["kernel"] == "topk_rows" else "abs"
        out.append(f"| {kind} | {r['m']} | {r['n']} | {r['s_or_k']} | {us(r['time_ms'])} | {us(r['b2b_ms'])} | "
                   f"{us(t) if t else '-'} | {ratio} |")

    out.append("\n### Fused steering step vs dense encode + decode\n")
    out.append("`fused` = `sas_steer_fused` on the packed support (|S| = s); `dense` = the library's own dense path "
               "over all m (encode, coefficients relu(f + lambda v) - f, decode; 3-4 launches). Single = median of "
               "single calls from an idle stream (one launch latency included); b2b = back-to-back calls, as in a "
               "decode loop (packed operands stay in L2 between repeats). torch packed = the same sparse step as "
               "PyTorch ops on pre-gathered tensors; torch dense = the dense step in PyTorch (cuBLAS).\n")
    fused = sorted((r for r in ours if r["kernel"] == "steer_fused"), key=key)
    # Runs since session 15 also time the step cold (sas_bench's time_cold_ms: operands evicted from L2 by
    # a copy before each call, as between two steps of a decode loop); its speed-up is over the dense
    # step back to back, which streams W from memory either way.
    with_cold = any(float(r.get("cold_ms") or 0) > 0 for r in fused)
    if with_cold:
        out.append("fused cold = the step right after a copy that evicts its operands from L2 (as the model's layers "
                   "do between two steps of a decode loop); speed-up cold = dense b2b / fused cold.\n")
    out.append("| d | m | n | s | fused | fused b2b | dense | dense b2b | speed-up | speed-up b2b |"
               + (" fused cold | speed-up cold |" if with_cold else "") + " torch packed | torch dense |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if with_cold else "") + "---:|---:|")
    for r in fused:
        tp, td = tms("steer_packed", r), tms("steer_dense", r)
        sp = float(r["dense_ms"]) / float(r["time_ms"])
        sb = float(r["dense_b2b_ms"]) / float(r["b2b_ms"])
        cold = ""
        if with_cold:
            c = float(r.get("cold_ms") or 0)
            cold = f" {us(c)} | {float(r['dense_b2b_ms']) / c:.0f}x |" if c > 0 else " - | - |"
        out.append(f"| {r['d']} | {r['m']} | {r['n']} | {r['s_or_k']} | {us(r['time_ms'])} | {us(r['b2b_ms'])} | "
                   f"{us(r['dense_ms'])} | {us(r['dense_b2b_ms'])} | {sp:.0f}x | **{sb:.0f}x** |{cold} "
                   f"{us(tp) if tp else '-'} | {us(td) if td else '-'} |")

    out.append("\n### The other kernels (d = 2304 rows of the grid)\n")
    out.append("torch (torch_baseline.py, same shapes and byte counts): encode_sparse = the dense encode then "
               "`to_sparse_csr()` (all of each row's non-zeros; sas keeps up to 256); encode_subset = "
               "`addmm(b_enc[S], x, W_enc.index_select(1, S))` then the threshold; inject = "
               "`x.add_(bmm(c, W_dec[idx]))` (each row's s decoder rows gathered); pack_support = the four "
               "`index_select`s (W_enc's columns transposed to [s, d], as sas packs them).\n")
    out.append("| kernel | variant | m | n | s | sas | GB/s | torch | torch / sas |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted((r for r in ours if r["kernel"] in ("encode_sparse", "encode_subset", "inject", "pack_support")
                     and r["d"] == "2304"), key=lambda r: (r["kernel"], int(r["m"]), int(r["n"]), int(r["s_or_k"]))):
        t = tms(r["kernel"], r)
        ratio = f"{t / float(r['time_ms']):.2f}x" if t else "-"
        out.append(f"| {r['kernel']} | {r['variant']} | {r['m']} | {r['n']} | {r['s_or_k']} | {us(r['time_ms'])} | "
                   f"{float(r['gbps']):.1f} | {us(t) if t else '-'} | {ratio} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
