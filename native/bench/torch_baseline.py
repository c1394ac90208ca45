#!/usr/bin/env python3
"""PyTorch composites doing the same jobs as the SparseSteer kernels, for side-by-side GPU numbers.

Same shape grid, data, dtypes and byte estimates as `sas_bench --full` (native/bench/sas_bench.cpp),
so its GB/s and ours are bytes-of-the-job / time and their ratio is a time ratio:
  copy                 dst.copy_(src) of 256 MiB, read + write counted (the peak reference)
  encode_dense         pre = x @ W_enc + b_enc; f = pre * (pre > thr)          (sas_encode_dense)
  topk_rows            torch.topk(f32 [n, m], k, dim=1)                          (sas_topk_rows)
  topk_abs             v[topk(|v|, k).indices] of one dense f32 [m] vector       (sas_topk_abs)
  steer_dense          f = encode(x); x + (relu(f + lam*v) - f) @ W_dec, dense v (sas_bench's dense baseline)
  steer_index_select   the same on the support: index_select(W_enc, 1, S), W_dec[S] every step
  steer_packed         the same with the gathers done once outside the timing (like pack + steer_fused)
and, for the first d only (gpu_report.py's "other kernels" table):
  encode_sparse        encode(x).to_sparse_csr(): every row's non-zeros by index     (sas_encode_sparse)
  encode_subset        addmm(b_enc[S], x, W_enc[:, S]) then the threshold of S      (sas_encode_subset)
  inject               x += bmm(c [n, 1, s], W_dec[idx] [n, s, d]), idx = S per row   (sas_inject)
  pack_support         index_select of W_enc's columns, W_dec's rows, b_enc, thr   (sas_pack_support)

  python3 native/bench/torch_baseline.py [--device cuda|cpu] [--quick] [--dtype bf16|f16|f32]
         [--d LIST] [--m LIST] [--n LIST] [--s LIST] [--min-ms T] [--max-seconds S] [--csv FILE]

Rows are written (and flushed) as they are measured, so a run cut short still leaves its numbers.
Shapes that run out of memory get a row with ms = nan and note = oom; after --max-seconds the run
stops at the next measurement and says so on stderr.
"""
import argparse
import math
import sys
import time

import torch

LAMBDA = 4.0  # sas_bench's lambda


def parse_list(text):
    """'16k,1M,8' -> [16384, 1048576, 8] (the suffixes sas_bench accepts)."""
    out = []
    for tok in text.split(","):
        mult = 1
        if tok[-1:] in ("k", "K"):
            mult, tok = 1024, tok[:-1]
        elif tok[-1:] == "M":
            mult, tok = 1024 * 1024, tok[:-1]
        out.append(int(tok) * mult)
    return out


def is_oom(err):
    # cuBLAS / the caching allocator / the CPU allocator each phrase it differently.
    msg = str(err).lower()
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in msg or "alloc_failed" in msg


class Bench:
    def __init__(self, args):
        self.dev = torch.device(args.device)
        self.dt = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[args.dtype]
        self.es = torch.tensor([], dtype=self.dt).element_size()
        self.dtname = args.dtype
        self.min_ms = args.min_ms
        self.deadline = time.monotonic() + args.max_seconds
        self.stopped = False
        self.out = open(args.csv, "w")
        self.out.write("op,d,m,n,s_or_k,dtype,ms,gb_per_s,note\n")
        self.out.flush()

    def sync(self):
        if self.dev.type == "cuda":
            torch.cuda.synchronize()

    def time_ms(self, fn):
        """Median ms over repeated runs after a warm-up, like sas_bench: at least 3 runs, at most 50,
        stopping once min_ms have been spent. CUDA events on the GPU, a wall clock on the CPU."""
        fn()
        self.sync()
        times, total = [], 0.0
        for i in range(50):
            if self.dev.type == "cuda":
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                ms = a.elapsed_time(b)
            else:
                t0 = time.perf_counter()
                fn()
                ms = (time.perf_counter() - t0) * 1e3
            times.append(ms)
            total += ms
            if i >= 2 and total >= self.min_ms:
                break
        times.sort()
        return times[len(times) // 2]

    def measure(self, op, d, m, n, sk, nbytes, fn):
        """Times fn and writes a row; an OOM becomes a row too. False once the time budget is spent."""
        if time.monotonic() > self.deadline:
            if not self.stopped:
                print("torch_baseline: --max-seconds reached, stopping", file=sys.stderr)
            self.stopped = True
            return False
        try:
            ms = self.time_ms(fn)
            gbs, note = nbytes / (ms * 1e6), "ok"
        except RuntimeError as err:  # torch.cuda.OutOfMemoryError is a RuntimeError
            if not is_oom(err):
                raise
            ms, gbs, note = math.nan, math.nan, "oom"
            self.free()
        self.row(op, d, m, n, sk, ms, gbs, note)
        return True

    def row(self, op, d, m, n, sk, ms, gbs, note):
        self.out.write(f"{op},{d},{m},{n},{sk},{self.dtname},{ms:.6f},{gbs:.2f},{note}\n")
        self.out.flush()
        print(f"{op:20s} d={d:<5} m={m:<8} n={n:<4} s/k={sk:<4} {ms:10.4f} ms {gbs:9.1f} GB/s {note}",
              file=sys.stderr)

    def free(self):
        if self.dev.type == "cuda":
            torch.cuda.empty_cache()

    def uniform(self, shape, lo, hi, dtype=None):
        t = torch.empty(shape, device=self.dev, dtype=dtype or self.dt)
        return t.uniform_(lo, hi)


def support(m, smax):
    """sas_bench's support: (i * 2654435761) % m for i < smax, sorted, duplicates removed."""
    return sorted({(i * 2654435761) % m for i in range(min(smax, m))})


def run(b, ds, ms_, ns, ss):
    dev, es = b.dev, b.es
    # Peak reference: a plain device copy of 256 MiB, read + write counted (as sas_bench).
    src = torch.empty(256 << 20, dtype=torch.uint8, device=dev).random_(0, 255)
    dst = torch.empty_like(src)
    b.measure("copy", 0, 0, 0, 0, 2.0 * src.numel(), lambda: dst.copy_(src))
    del src, dst
    # m outer, d inner: the small SAEs of both widths come first, so a budget cut drops the largest.
    for m in ms_:
        for d in ds:
            try:
                a = 1.7320508 / math.sqrt(d)
                W_enc = b.uniform((d, m), -a, a)  # Gemma Scope layout [d, m]
                W_dec = b.uniform((m, d), -0.1, 0.1)
                b_enc = b.uniform((m,), -0.1, 0.1)
                thr = b.uniform((m,), 0.2, 0.6)
                S_list = support(m, max(ss))
                S = torch.tensor(S_list, dtype=torch.long, device=dev)
                v_S32 = torch.tensor([1.0 if i % 2 else -0.5 for i in range(len(S_list))], device=dev)
                v32 = torch.zeros(m, device=dev)  # sas_bench's dense v is f32 [m]
                v32[S] = v_S32
                v = v32.to(b.dt)  # what a framework adds to bf16 activations
            except RuntimeError as err:
                if not is_oom(err):
                    raise
                b.row("alloc", d, m, 0, 0, math.nan, math.nan, "oom")
                W_enc = W_dec = None
                b.free()
                continue

            def encode(x):
                pre = torch.addmm(b_enc, x, W_enc)
                return pre * (pre > thr)

            wbytes, mes = d * m * es, m * es
            for n in ns:
                x = b.uniform((n, d), -1.0, 1.0)
                xb = n * d * es
                if not b.measure("encode_dense", d, m, n, 0, wbytes + xb + n * m * 4 + 2 * mes, lambda: encode(x)):
                    return
                # sas_bench counts max_nnz = 256 slots of (index, value) and a count per row.
                if d == ds[0] and not b.measure("encode_sparse", d, m, n, 0, wbytes + xb + n * 256 * 12 + 2 * mes,
                                                lambda: encode(x).to_sparse_csr()):
                    return
                if d == ds[0]:  # top-k does not depend on d (sas_bench runs it for the first d only)
                    try:
                        # The JumpReLU code as f32, like the f sas_bench ranks (rounded through the dtype here).
                        f32 = encode(x).float()
                    except RuntimeError as err:
                        if not is_oom(err):
                            raise
                        f32 = None
                        b.free()
                    for k in ss:
                        if f32 is None or k > m or k > 1024:
                            continue
                        if not b.measure("topk_rows", 0, m, n, k, n * m * 4 + n * k * 12,
                                         lambda: torch.topk(f32, k, dim=1)):
                            return
                        if n == ns[0] and not b.measure("topk_abs", 0, m, 1, k, m * 4 + k * 12,
                                                        lambda: v32[torch.topk(v32.abs(), k).indices]):
                            return
                    del f32
                for s in ss:
                    s = min(s, len(S_list))
                    Ss, vS = S[:s], v[S[:s]]

                    def steer_dense():
                        f = encode(x)
                        return x + (torch.relu(f + LAMBDA * v) - f) @ W_dec

                    def steer_sparse(We_S, Wd_S, be_S, th_S):
                        pre = torch.addmm(be_S, x, We_S)
                        f = pre * (pre > th_S)
                        return x + (torch.relu(f + LAMBDA * vS) - f) @ Wd_S

                    def steer_index_select():
                        return steer_sparse(W_enc.index_select(1, Ss), W_dec.index_select(0, Ss),
                                            b_enc.index_select(0, Ss), thr.index_select(0, Ss))

                    packed = (W_enc.index_select(1, Ss), W_dec.index_select(0, Ss),
                              b_enc.index_select(0, Ss), thr.index_select(0, Ss))
                    fused_bytes = 2 * s * d * es + 2 * xb + s * (4 + 2 * es)  # sas_bench's steer_fused
                    if not (b.measure("steer_dense", d, m, n, s, 2 * wbytes + 2 * xb + 3 * n * m * 4, steer_dense)
                            and b.measure("steer_index_select", d, m, n, s, fused_bytes, steer_index_select)
                            and b.measure("steer_packed", d, m, n, s, fused_bytes, lambda: steer_sparse(*packed))):
                        return
                    del packed
                    if d != ds[0]:
                        continue
                    # The other kernels, with sas_bench's byte counts: the subset encode ...
                    if not b.measure("encode_subset", d, m, n, s, s * d * es + xb + n * s * 4,
                                     lambda: (lambda pre: pre * (pre > thr.index_select(0, Ss)))(
                                         torch.addmm(b_enc.index_select(0, Ss), x, W_enc.index_select(1, Ss)))):
                        return
                    # ... the injection of s coefficients per row (0.01 each, the indices S on every row, as
                    # sas_bench; the general composite gathers each row's W_dec rows) into a copy of x ...
                    idx = Ss.unsqueeze(0).expand(n, s)
                    co = torch.full((n, 1, s), 0.01, device=dev, dtype=b.dt)
                    xi = x.clone()
                    if not b.measure("inject", d, m, n, s, s * d * es + 2 * xb + n * s * 12,
                                     lambda: xi.add_(torch.bmm(co, W_dec[idx]).squeeze(1))):
                        return
                    del xi, co, idx
                    # ... and the packing, once per (m, d, s) as sas_bench (its rows have n = 0).
                    if n == ns[0] and not b.measure(
                            "pack_support", d, m, 0, s, 4 * s * d * es,
                            lambda: (W_enc.index_select(1, Ss).t().contiguous(), W_dec.index_select(0, Ss),
                                     b_enc.index_select(0, Ss), thr.index_select(0, Ss))):
                        return
                del x
            del W_enc, W_dec, b_enc, thr, v, v32
            b.free()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--quick", action="store_true", help="a small grid (smoke test, e.g. on the CPU)")
    p.add_argument("--dtype", choices=["bf16", "f16", "f32"], help="default: bf16 on cuda, f32 on cpu (as sas_bench)")
    p.add_argument("--d", type=parse_list)
    p.add_argument("--m", type=parse_list)
    p.add_argument("--n", type=parse_list)
    p.add_argument("--s", type=parse_list)
    p.add_argument("--min-ms", type=float, default=20.0, help="adaptive repeats: stop after this many ms (3..50 runs)")
    p.add_argument("--max-seconds", type=float, default=150.0, help="stop gracefully after this long")
    p.add_argument("--csv", default="torch-baseline.csv")
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_baseline: --device cuda but torch.cuda.is_available() is False")
    args.dtype = args.dtype or ("bf16" if args.device == "cuda" else "f32")
    full = not args.quick
    ds = args.d or ([2304, 3584] if full else [256])
    ms_ = args.m or ([16384, 65536, 262144, 1048576] if full else [4096])
    ns = args.n or ([1, 8, 64, 512] if full else [1, 8])
    ss = args.s or ([8, 64, 256] if full else [8, 64])
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"# torch_baseline: torch {torch.__version__} on {name}, dtype {args.dtype}, "
          f"budget {args.max_seconds:.0f} s", file=sys.stderr)
    b = Bench(args)
    with torch.inference_mode():
        run(b, ds, ms_, ns, ss)
    b.out.close()
    print(f"wrote {args.csv}" + (" (stopped early: --max-seconds)" if b.stopped else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
