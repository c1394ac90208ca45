#!/usr/bin/env python3
"""The JMH kernel benchmarks as one table: time, effective GB/s and % of the copy peak, kernel beside the
libtorch composite doing the same job, all from one JMH run.

    java -jar bench/target/benchmarks.jar 'PeakBench|EncodeBench|TopKBench|InjectBench|SteerBench' \\
        -p d=2304 -p m=16384 -p n=1 -p s=64 -rf json -rff jmh.json
    python3 bench/jmh_report.py jmh.json

GB/s = the bytes the job must move at least once (the same model as native/bench/sas_bench.cpp, f32) / time;
% of peak = against PeakBench.copy (libtorch copying 256 MiB, read + write counted) in the same run, so
cache-resident working sets (packed supports, small rows) can pass 100%. Standard library only.
"""
import json
import sys

ES = 4  # the benchmarks' tensors are f32


def bytes_moved(bench, p):
    """Bytes a benchmark's job must move at least once, from its JMH params (d, m, n, s as ints)."""
    d, m, n, s = p.get("d", 0), p.get("m", 0), p.get("n", 0), p.get("s", 0)
    w, x = d * m * ES, n * d * ES
    if bench.startswith("EncodeBench.dense"):
        return w + x + n * m * 4 + 2 * m * ES
    if bench.startswith("EncodeBench.sparse"):
        max_nnz = min(m, max(64, m // 16))
        return w + x + n * max_nnz * 12 + 2 * m * ES
    if bench.startswith("EncodeBench.subset"):
        return s * d * ES + x + n * s * 4 + 2 * s * ES
    if bench.startswith("TopKBench.rows"):
        return n * m * 4 + n * s * 12
    if bench.startswith("TopKBench.abs"):
        return m * 4 + s * 12
    if bench.startswith("InjectBench.inject"):
        return n * s * d * ES + 2 * x + n * s * 12  # each row its own s random rows of W_dec
    if bench.startswith("InjectBench.pack"):
        return 4 * s * d * ES + 4 * s * ES  # W_enc columns and W_dec rows read and written, b and thr
    if bench in ("SteerBench.fusedKernel", "SteerBench.packedLibtorch"):
        return 2 * s * d * ES + 2 * x + s * (4 + 2 * ES)
    if bench == "SteerBench.denseLibtorch":
        return 2 * w + 2 * x + 3 * n * m * 4
    return None


# (kernel benchmark, libtorch benchmark, what the libtorch side does)
PAIRS = [
    ("EncodeBench.denseKernel", "EncodeBench.denseLibtorch", "`matmul + add + where`"),
    ("EncodeBench.sparseKernel", "EncodeBench.sparseLibtorch", "dense encode + `nonzero`, `masked_select`, `sum`"),
    ("EncodeBench.subsetKernel", "EncodeBench.subsetLibtorch", "`index_select(W_enc, 1, S)` + matmul + where"),
    ("TopKBench.rowsKernel", "TopKBench.rowsLibtorch", "`topk(k, 1)`"),
    ("TopKBench.absKernel", "TopKBench.absLibtorch", "`abs().topk(k)` + `index_select`"),
    ("InjectBench.injectKernel", "InjectBench.injectLibtorch", "`index_select(W_dec)` + `bmm` + `add_`"),
    ("InjectBench.packKernel", "InjectBench.packLibtorch", "four `index_select`s (+ transpose)"),
    ("SteerBench.fusedKernel", "SteerBench.packedLibtorch", "the same sparse step as libtorch ops, packed tensors"),
    ("SteerBench.fusedKernel", "SteerBench.denseLibtorch", "dense encode + decode over all m (`matmul + where`)"),
]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        runs = json.load(f)
    res = {}  # (short name, params tuple) -> (us, error)
    for r in runs:
        name = r["benchmark"].rsplit(".", 2)
        short = f"{name[-2]}.{name[-1]}"
        params = {k: int(v) for k, v in (r.get("params") or {}).items()}
        unit = r["primaryMetric"]["scoreUnit"]
        scale = {"us/op": 1.0, "ms/op": 1e3, "ns/op": 1e-3, "s/op": 1e6}[unit]
        err = float(r["primaryMetric"]["scoreError"])  # "NaN" (a string) with one measurement iteration
        res[(short, tuple(sorted(params.items())))] = (float(r["primaryMetric"]["score"]) * scale, err * scale, params)
    peak = next((v for (b, _), v in res.items() if b == "PeakBench.copy"), None)
    peak_gbs = 2 * (64 << 20) * 4 / (peak[0] * 1e3) if peak else None
    out = [f"Peak: `PeakBench.copy` (libtorch copying 256 MiB of f32, read + write) {peak[0]:.0f} ± {peak[1]:.0f} us "
           f"= {peak_gbs:.1f} GB/s.\n" if peak else
           "No `PeakBench.copy` in this run (add 'PeakBench' to the JMH pattern): no % of peak.\n",
           "| kernel | d | m | n | s/k | kernel us/op | GB/s | % of peak | libtorch composite | libtorch us/op | GB/s | "
           "% of peak | libtorch / kernel |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]

    def cells(bench, key):
        us, err, p = res[(bench, key)]
        b = bytes_moved(bench, p)
        gbs = b / (us * 1e3) if b else None
        return us, err, gbs, (f"{gbs:.1f}" if gbs else "-"), (f"{100 * gbs / peak_gbs:.0f}%" if gbs and peak_gbs else "-")

    for kern, lib, what in PAIRS:
        for (b, key), (_, _, p) in sorted(res.items(), key=lambda kv: kv[0]):
            if b != kern:
                continue
            # The libtorch side at the same params (its benchmark may not take all of them, e.g. s for dense).
            lkey = next((k for (bb, k) in res if bb == lib and all(dict(k).get(n) == p.get(n) for n, _ in k)), None)
            if lkey is None:
                continue
            ku, ke, _, kg, kp = cells(kern, key)
            lu, le, _, lg, lp = cells(lib, lkey)
            short = kern.split(".")[1].replace("Kernel", "")
            sk = p.get("s", "-") if not kern.startswith("EncodeBench.d") and not kern.startswith("EncodeBench.sp") else "-"
            out.append(f"| {kern.split('Bench')[0].lower()} {short} | {p.get('d', '-')} | {p.get('m', '-')} | "
                       f"{p.get('n', '-') if 'n' in p else '-'} | {sk} | {ku:,.1f} ± {ke:,.1f} | {kg} | {kp} | {what} | "
                       f"{lu:,.1f} ± {le:,.1f} | {lg} | {lp} | {lu / ku:.2f}x |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
