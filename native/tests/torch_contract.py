#!/usr/bin/env python3
"""The C API's contract with a tensor framework, checked from PyTorch through ctypes.

The Java binding hands libtorch tensors to the kernels: their data pointers, their strides as leading
dimensions, and libtorch's current CUDA stream. Java cannot run on the lent GPU machines (libtorch's CUDA
natives for the JVM are far over what travels there), but PyTorch can, and PyTorch tensors are the same
libtorch tensors. So this script does what the binding does, on torch's own tensors and a torch stream:

  - every kernel against the PyTorch composite of the same job (matmul + where, torch.sort(stable),
    index_select + matmul, the dense steering formula), references in float64;
  - stream order: the kernels run on the stream they are given. A torch stream is first made busy
    (torch.cuda._sleep) and then writes x; the call on that stream must see the written x (a kernel that
    ran on another stream would run during the sleep and read the old x);
  - the CUDA kernel variants (kernels/src/variants.h: SAS_CUDA_TC_GEMV, SAS_CUDA_TC_WIDE, SAS_CUDA_GEMV_XT,
    SAS_CUDA_TC_GEMM, SAS_CUDA_SPLITK_ONE, SAS_CUDA_TOPK_STAGE, SAS_CUDA_TOPK_REG, SAS_CUDA_TOPK_HIST,
    SAS_CUDA_SPARSE_SPLIT, SAS_CUDA_SUBSET_GEMM, SAS_CUDA_TOPK_ACT, SAS_CUDA_STEER_ONE, SAS_CUDA_STEER_CLUSTER,
    SAS_CUDA_PDL, SAS_CUDA_STEER_PREFETCH) pass the same checks all off, all on, and all on but SAS_CUDA_TC_WIDE,
    SAS_CUDA_STEER_CLUSTER and SAS_CUDA_TOPK_HIST (which take over from the tensor-core encoder's default
    layout, SAS_CUDA_STEER_ONE and SAS_CUDA_TOPK_REG where both apply);
  - errors come back as statuses with messages (k = 0, a NULL pointer), and the process lives on;
  - a loop of fused steps does not grow device memory.

  python3 native/tests/torch_contract.py --lib build/lib/libsas_kernels.so [--device cuda|cpu]

Prints one line per failed check and "N passed, M failed"; exits 1 on any failure. With --device cpu it
runs the same checks on the CPU twins (a check of the script itself where there is no GPU).
"""
import argparse
import ctypes
import os
import sys

import torch

SAS_F32, SAS_BF16, SAS_F16 = 0, 1, 2
CPU, CUDA = 0, 1
JUMPRELU, RELU, TOPK = 0, 1, 2
DTYPES = {torch.float32: SAS_F32, torch.bfloat16: SAS_BF16, torch.float16: SAS_F16}
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}
VARIANTS = ("SAS_CUDA_TC_GEMV", "SAS_CUDA_TC_WIDE", "SAS_CUDA_GEMV_XT", "SAS_CUDA_TC_GEMM", "SAS_CUDA_SPLITK_ONE",
            "SAS_CUDA_TOPK_STAGE", "SAS_CUDA_TOPK_REG", "SAS_CUDA_TOPK_HIST", "SAS_CUDA_SPARSE_SPLIT",
            "SAS_CUDA_SUBSET_GEMM", "SAS_CUDA_TOPK_ACT", "SAS_CUDA_STEER_ONE", "SAS_CUDA_STEER_CLUSTER", "SAS_CUDA_PDL",
            "SAS_CUDA_STEER_PREFETCH")

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL", what, flush=True)


class Lib:
    """ctypes view of kernels/include/sas_kernels.h (enums are C ints)."""

    def __init__(self, path):
        self.so = ctypes.CDLL(path)
        P, I, L, F = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_float
        sigs = {
            "sas_encode_dense": [I, P, I, P, L, L, L, I, P, P, P, L, I, I, P, L],
            "sas_encode_sparse": [I, P, I, P, L, L, L, I, P, P, P, L, I, I, I, P, P, P],
            "sas_encode_subset": [I, P, I, P, L, L, L, I, P, P, P, L, I, P, L, P, L],
            "sas_topk_rows": [I, P, I, P, L, L, L, I, P, P],
            "sas_topk_abs": [I, P, I, P, L, I, P, P],
            "sas_inject": [I, P, I, P, L, L, L, I, P, L, I, P, P],
            "sas_pack_support": [I, P, I, P, P, P, P, L, L, P, L, P, P, P, P],
            "sas_steer_fused": [I, P, I, P, L, L, L, I, P, P, P, P, L, I, P, F, P],
        }
        for name, args in sigs.items():
            fn = getattr(self.so, name)
            fn.argtypes, fn.restype = args, ctypes.c_int
        self.so.sas_last_error.restype = ctypes.c_char_p
        self.so.sas_status_name.restype = ctypes.c_char_p
        self.so.sas_status_name.argtypes = [ctypes.c_int]
        self.so.sas_cuda_available.restype = ctypes.c_int

    def __getattr__(self, name):
        fn = getattr(self.so, "sas_" + name)

        def call(*args, expect=0):
            st = fn(*args)
            if st != expect:
                msg = self.so.sas_last_error().decode()
                check(False, f"sas_{name} returned {self.so.sas_status_name(st).decode()}: {msg}")
            return st

        return call

    def last_error(self):
        return self.so.sas_last_error().decode()


def p(t):
    return None if t is None else ctypes.c_void_p(t.data_ptr())


class Env:
    """Sets variant variables for a block (os.environ goes through putenv: the library's getenv sees it)."""

    def __init__(self, **vals):
        self.vals, self.saved = vals, {}

    def __enter__(self):
        for k, v in self.vals.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = v

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v


def variants(dev):
    """The environments to run each check under: the defaults, and on CUDA every variant off and every
    variant on (whatever the defaults are, both sides of each switch are checked)."""
    out = [("default", {})]
    if dev.type == "cuda":
        out.append(("variants off", {k: "0" for k in VARIANTS}))
        out.append(("variants on", {k: "1" for k in VARIANTS}))
        # ... and all on but the three that take over from another variant where both apply (TC_WIDE from
        # TC_GEMV's default layout, STEER_CLUSTER from STEER_ONE, TOPK_HIST from TOPK_REG), so those are
        # checked with the rest on too.
        but = ("SAS_CUDA_TC_WIDE", "SAS_CUDA_STEER_CLUSTER", "SAS_CUDA_TOPK_HIST")
        out.append(("variants on but TC_WIDE, STEER_CLUSTER, TOPK_HIST",
                    {k: "0" if k in but else "1" for k in VARIANTS}))
    return out


def close(got, want, scale, dtype, what):
    """|got - want| <= f32 accumulation error * scale + rounding of the output dtype (elementwise)."""
    got, want, scale = got.double().cpu(), want.double().cpu(), scale.double().cpu()
    tol = 1e-5 * scale + 2 * UNIT_ROUNDOFF[dtype] * want.abs() + 1e-30
    bad = (got - want).abs() > tol
    n_bad = int(bad.sum())
    if n_bad:
        i = int(bad.flatten().nonzero()[0])
        what += f": {n_bad} of {bad.numel()} differ, e.g. got {got.flatten()[i]:.9g} want {want.flatten()[i]:.9g}"
    check(n_bad == 0, what)


class Sae:
    def __init__(self, d, m, dtype, dev, gen):
        a = 1.7320508 / d**0.5
        self.W_enc = ((torch.rand(d, m, generator=gen) * 2 - 1) * a).to(dtype).to(dev)
        self.W_dec = ((torch.rand(m, d, generator=gen) * 2 - 1) * 0.1).to(dtype).to(dev)
        self.b_enc = ((torch.rand(m, generator=gen) * 2 - 1) * 0.1).to(dtype).to(dev)
        self.thr = (torch.rand(m, generator=gen) * 0.4 + 0.2).to(dtype).to(dev)
        self.d, self.m, self.dtype = d, m, dtype

    def pre(self, x):
        """float64 pre-activations and the scale of their accumulation error."""
        xd, W = x.double().cpu(), self.W_enc.double().cpu()
        pre = xd @ W + self.b_enc.double().cpu()
        scale = xd.abs() @ W.abs() + self.b_enc.double().cpu().abs()
        return pre, scale


def rand_x(n, d, dtype, dev, gen, ld=None):
    ld = ld or d
    full = (torch.rand(n, ld, generator=gen) * 2 - 1).to(dtype).to(dev)
    return full, full[:, :d]  # a view with row stride ld: the binding passes ld = stride(0)


def test_encode(lib, dev, dtype, n, d, m, gen, stream):
    sae = Sae(d, m, dtype, dev, gen)
    full, x = rand_x(n, d, dtype, dev, gen, ld=d + 8)
    pre, scale = sae.pre(x)
    thr = sae.thr.double().cpu()
    f_ref = pre * (pre > thr)
    near = (pre - thr).abs() <= 1e-4 * (scale + 1)  # the decision could go either way within rounding
    dt = DTYPES[dtype]
    devc = CUDA if dev.type == "cuda" else CPU
    for vname, env in variants(dev):
        with Env(**env):
            what = f"encode_dense {dev.type} {dtype} n={n} d={d} m={m} {vname}"
            out = torch.full((n, m + 3), float("nan"), device=dev)
            lib.encode_dense(devc, stream, dt, p(x), full.stride(0), n, d, dt, p(sae.W_enc), p(sae.b_enc),
                             p(sae.thr), m, JUMPRELU, 0, p(out), m + 3)
            got = out[:, :m].double().cpu()
            got = torch.where(near, f_ref, got)
            close(got, f_ref, scale, torch.float32, what)
            check(bool(torch.isnan(out[:, m:]).all()), what + ": wrote past m into the padding")
            # Sparse: the same code as (index, value) lists.
            max_nnz = m
            oi = torch.empty(n, max_nnz, dtype=torch.int64, device=dev)
            ov = torch.empty(n, max_nnz, device=dev)
            oc = torch.empty(n, dtype=torch.int32, device=dev)
            lib.encode_sparse(devc, stream, dt, p(x), full.stride(0), n, d, dt, p(sae.W_enc), p(sae.b_enc),
                              p(sae.thr), m, JUMPRELU, 0, max_nnz, p(oi), p(ov), p(oc))
            dense = out[:, :m].cpu()
            ok = True
            for r in range(n):
                nz = dense[r].nonzero().flatten()
                c = int(oc[r])
                ok &= c == nz.numel() and torch.equal(oi[r, :c].cpu(), nz)
                ok &= bool(torch.allclose(ov[r, :c].cpu(), dense[r, nz], rtol=1e-5, atol=1e-6))
            check(ok, f"encode_sparse vs encode_dense {dev.type} {dtype} n={n} m={m} {vname}")
            # TopK(k): per row at most k non-zeros, each relu(pre) there; every index whose pre is above the
            # k-th largest by more than the rounding is kept, none below it by more is; the sparse form
            # lists the same (index, value) pairs.
            k = min(32, m)
            tk = torch.full((n, m), float("nan"), device=dev)
            lib.encode_dense(devc, stream, dt, p(x), full.stride(0), n, d, dt, p(sae.W_enc), p(sae.b_enc),
                             p(sae.thr), m, TOPK, k, p(tk), m)
            lib.encode_sparse(devc, stream, dt, p(x), full.stride(0), n, d, dt, p(sae.W_enc), p(sae.b_enc),
                              p(sae.thr), m, TOPK, k, max_nnz, p(oi), p(ov), p(oc))
            tkc = tk.double().cpu()
            tol = (1e-4 * (scale + 1)).max(dim=1, keepdim=True).values
            kth = pre.topk(k, dim=1).values[:, -1:]
            kept = tkc != 0
            ok = not bool(torch.isnan(tkc).any()) and bool((kept.sum(dim=1) <= k).all())
            ok &= bool(((tkc - pre.clamp(min=0)).abs() <= tol)[kept].all())
            ok &= bool((kept | (pre <= kth + tol) | (pre <= tol)).all())  # clearly above: kept (unless ~0)
            ok &= bool((~kept | (pre >= kth - tol)).all())                 # kept: not clearly below
            for r in range(n):
                nz = tkc[r].nonzero().flatten()
                c = int(oc[r])
                ok &= c == nz.numel() and torch.equal(oi[r, :c].cpu(), nz)
                ok &= torch.equal(ov[r, :c].cpu(), tk[r, nz.to(dev)].cpu())
            check(ok, f"encode TopK(k={k}) dense and sparse {dev.type} {dtype} n={n} m={m} {vname}")
            # Subset: columns S of the code, O(n s d).
            S = torch.randperm(m, generator=gen)[:37].to(dev)
            sub = torch.empty(n, 37, device=dev)
            lib.encode_subset(devc, stream, dt, p(x), full.stride(0), n, d, dt, p(sae.W_enc), p(sae.b_enc),
                              p(sae.thr), m, JUMPRELU, p(S), 37, p(sub), 37)
            Sc = S.cpu()
            got = torch.where(near[:, Sc], f_ref[:, Sc], sub.double().cpu())
            close(got, f_ref[:, Sc], scale[:, Sc], torch.float32, f"encode_subset {dev.type} {dtype} {vname}")


def stable_topk(v, k):
    """Indices of the k largest, ties by lower index (torch.sort with stable=True keeps index order)."""
    _, idx = torch.sort(v, dim=-1, descending=True, stable=True)
    return idx[..., :k]


def test_topk(lib, dev, n, m, k, gen, stream):
    devc = CUDA if dev.type == "cuda" else CPU
    # SAE-like rows: mostly exact zeros (many ties), a few rounded positive values (more ties).
    vals = (torch.rand(n, m, generator=gen) * 8).round() / 8
    x = torch.where(torch.rand(n, m, generator=gen) < 0.05, vals, torch.zeros(())).to(dev)
    want = stable_topk(x.cpu(), k)
    v = (torch.randn(m, generator=gen) * 4).round().to(dev)  # signed, many equal |v|
    want_abs = stable_topk(v.abs().cpu(), k)
    for vname, env in variants(dev):
        with Env(**env):
            ov = torch.empty(n, k, device=dev)
            oi = torch.empty(n, k, dtype=torch.int64, device=dev)
            lib.topk_rows(devc, stream, SAS_F32, p(x), m, n, m, k, p(ov), p(oi))
            check(torch.equal(oi.cpu(), want) and torch.equal(ov.cpu(), torch.gather(x.cpu(), 1, want)),
                  f"topk_rows vs torch.sort(stable) {dev.type} n={n} m={m} k={k} {vname}")
            av = torch.empty(k, device=dev)
            ai = torch.empty(k, dtype=torch.int64, device=dev)
            lib.topk_abs(devc, stream, SAS_F32, p(v), m, k, p(av), p(ai))
            check(torch.equal(ai.cpu(), want_abs) and torch.equal(av.cpu(), v.cpu()[want_abs]),
                  f"topk_abs vs torch.sort(stable) {dev.type} m={m} k={k} {vname}")


def test_inject(lib, dev, dtype, n, d, m, nnz, gen, stream):
    devc, dt = (CUDA if dev.type == "cuda" else CPU), DTYPES[dtype]
    sae = Sae(d, m, dtype, dev, gen)
    full, x = rand_x(n, d, dtype, dev, gen, ld=d + 8)
    idx = torch.randint(-1, m, (n, nnz), generator=gen).to(dev)  # -1 = padding
    coef = torch.randn(n, nnz, generator=gen).to(dev)
    x0 = x.double().cpu()
    Wd = sae.W_dec.double().cpu()
    ic, cc = idx.cpu(), coef.double().cpu()
    keep = ic >= 0
    rows = Wd[ic.clamp(min=0)] * keep[..., None]  # index_select + mask, [n, nnz, d]
    want = x0 + torch.einsum("rj,rjd->rd", cc, rows)
    scale = x0.abs() + torch.einsum("rj,rjd->rd", cc.abs(), rows.abs())
    lib.inject(devc, stream, dt, p(x), full.stride(0), n, d, dt, p(sae.W_dec), m, nnz, p(idx), p(coef))
    close(x.double().cpu(), want, scale, dtype, f"inject {dev.type} {dtype} n={n} d={d} nnz={nnz}")


def steer_reference(sae, x, S, vS, lam, mask):
    """x + (relu(f + lam v) - f) W_dec over all m with v zero off S (the dense formula), float64."""
    pre, pscale = sae.pre(x)
    thr = sae.thr.double().cpu()
    f = pre * (pre > thr)
    v = torch.zeros(sae.m, dtype=torch.float64)
    v[S.cpu()] = vS.double().cpu()
    c = torch.relu(f + lam * v) - f
    Wd = sae.W_dec.double().cpu()
    x0 = x.double().cpu()
    want = x0 + c @ Wd
    scale = x0.abs() + (c.abs() + pscale * (v != 0)) @ Wd.abs()
    m = mask.cpu().bool()[:, None]
    return torch.where(m, want, x0), scale, pre, thr, pscale


def pack(lib, devc, dt, sae, S, stream):
    s, d = S.numel(), sae.d
    dev = sae.W_enc.device
    We = torch.empty(s, d, dtype=sae.dtype, device=dev)
    Wd = torch.empty(s, d, dtype=sae.dtype, device=dev)
    be = torch.empty(s, dtype=sae.dtype, device=dev)
    th = torch.empty(s, dtype=sae.dtype, device=dev)
    lib.pack_support(devc, stream, dt, p(sae.W_enc), p(sae.b_enc), p(sae.thr), p(sae.W_dec), d, sae.m, p(S), s,
                     p(We), p(be), p(th), p(Wd))
    return We, be, th, Wd


def test_steer(lib, dev, dtype, n, d, m, s, lam, gen, stream):
    devc, dt = (CUDA if dev.type == "cuda" else CPU), DTYPES[dtype]
    sae = Sae(d, m, dtype, dev, gen)
    S = torch.randperm(m, generator=gen)[:s].to(dev)
    vS = (torch.randn(s, generator=gen) * 3).to(dev)
    mask = (torch.arange(n) % 3 != 1).to(torch.uint8).to(dev)
    full, x = rand_x(n, d, dtype, dev, gen, ld=d + 8)
    want, scale, pre, thr, pscale = steer_reference(sae, x, S, vS, lam, mask)
    # Rows whose JumpReLU decision on S is within rounding of the threshold are not compared.
    ambiguous = ((pre[:, S.cpu()] - thr[S.cpu()]).abs() <= 1e-4 * (pscale[:, S.cpu()] + 1)).any(1)
    packed = pack(lib, devc, dt, sae, S, stream)
    x_before = full.clone()
    for vname, env in variants(dev):
        with Env(**env):
            full.copy_(x_before)
            lib.steer_fused(devc, stream, dt, p(x), full.stride(0), n, d, dt, *map(p, packed[:3]), p(packed[3]), s,
                            JUMPRELU, p(vS), lam, p(mask))
            got = x.double().cpu()
            got = torch.where(ambiguous[:, None], want, got)
            what = f"steer_fused vs the dense formula {dev.type} {dtype} n={n} d={d} m={m} s={s} {vname}"
            close(got, want, scale, dtype, what)
            unsteered = ~mask.cpu().bool()
            check(torch.equal(full.cpu()[unsteered], x_before.cpu()[unsteered]) and
                  torch.equal(full.cpu()[:, d:], x_before.cpu()[:, d:]),
                  what + ": unsteered rows or the padding changed")
            check(not torch.equal(full.cpu()[~unsteered], x_before.cpu()[~unsteered]), what + ": nothing steered")


def test_stream_order(lib, dev, gen):
    """The call runs on the stream it is given: a torch stream is kept busy, then writes x; the step on
    that stream must see the new x. A kernel on any other stream would run during the sleep."""
    if dev.type != "cuda":
        return
    dtype, n, d, m, s, lam = torch.bfloat16, 1, 2304, 4096, 64, 4.0
    sae = Sae(d, m, dtype, dev, gen)
    S = torch.randperm(m, generator=gen)[:s].to(dev)
    vS = (torch.randn(s, generator=gen) * 3).to(dev)
    src = (torch.rand(n, d, generator=gen) * 2 - 1).to(dtype).to(dev)
    packed = pack(lib, CUDA, SAS_BF16, sae, S, None)
    want, scale, *_ = steer_reference(sae, src, S, vS, lam, torch.ones(n, dtype=torch.uint8))
    torch.cuda.synchronize()
    for vname, env in variants(dev):
        with Env(**env):
            side = torch.cuda.Stream()  # a pool stream: non-blocking, no implicit sync with stream 0
            with torch.cuda.stream(side):
                x = torch.zeros(n, d, dtype=dtype, device=dev)
                torch.cuda._sleep(100_000_000)  # ~50 ms of GPU time on this stream
                x.copy_(src)
                lib.steer_fused(CUDA, ctypes.c_void_p(side.cuda_stream), SAS_BF16, p(x), d, n, d, SAS_BF16,
                                *map(p, packed[:3]), p(packed[3]), s, JUMPRELU, p(vS), lam, None)
                y = x.clone()
            side.synchronize()
            close(y.double().cpu(), want, scale, dtype, f"stream order (torch pool stream) {vname}")


def test_errors(lib, dev):
    devc = CUDA if dev.type == "cuda" else CPU
    x = torch.zeros(2, 100, device=dev)
    ov = torch.empty(2, 4, device=dev)
    oi = torch.empty(2, 4, dtype=torch.int64, device=dev)
    st = lib.topk_rows(devc, None, SAS_F32, p(x), 100, 2, 100, 0, p(ov), p(oi), expect=3)
    check(st == 3 and "k" in lib.last_error(), f"k = 0 gives SAS_ERR_BAD_K naming k: {lib.last_error()!r}")
    st = lib.topk_rows(devc, None, SAS_F32, None, 100, 2, 100, 4, p(ov), p(oi), expect=1)
    check(st == 1 and "x" in lib.last_error(), f"NULL x gives SAS_ERR_NULL_POINTER naming x: {lib.last_error()!r}")
    check(torch.equal((x + 1).sum().cpu(), torch.tensor(200.0)), "the device works after the errors")


def test_memory(lib, dev, gen):
    """1000 fused steps on one stream, each variant: the device's free memory must not shrink."""
    if dev.type != "cuda":
        return
    dtype, n, d, m, s = torch.bfloat16, 4, 2304, 4096, 64
    sae = Sae(d, m, dtype, dev, gen)
    S = torch.randperm(m, generator=gen)[:s].to(dev)
    vS = torch.randn(s, generator=gen).to(dev)
    packed = pack(lib, CUDA, SAS_BF16, sae, S, None)
    x = (torch.rand(n, d, generator=gen) * 2 - 1).to(dtype).to(dev)
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    for vname, env in variants(dev):
        with Env(**env):
            def steps(k):
                for _ in range(k):
                    lib.steer_fused(CUDA, stream, SAS_BF16, p(x), d, n, d, SAS_BF16, *map(p, packed[:3]),
                                    p(packed[3]), s, JUMPRELU, p(vS), 0.5, None)
                torch.cuda.synchronize()
            steps(10)
            free0 = torch.cuda.mem_get_info()[0]
            steps(1000)
            free1 = torch.cuda.mem_get_info()[0]
            check(free0 - free1 <= 2 << 20, f"1000 fused steps ({vname}) took {(free0 - free1) >> 20} MiB of device memory")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", required=True, help="path to libsas_kernels.so")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = ap.parse_args()
    lib = Lib(args.lib)
    if args.device == "cuda":
        if not torch.cuda.is_available() or not lib.so.sas_cuda_available():
            print("torch_contract: --device cuda needs torch with CUDA and a CUDA build of the library")
            return 1
    dev = torch.device(args.device)
    gen = torch.Generator().manual_seed(7)
    # The current stream, as the Java binding passes it: a torch pool stream, not the default one.
    side = torch.cuda.Stream() if dev.type == "cuda" else None
    ctx = torch.cuda.stream(side) if side is not None else None
    if ctx:
        ctx.__enter__()
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream) if side is not None else None
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        for n, d, m in ((1, 2304, 3000), (5, 64, 1000), (16, 256, 2048), (40, 256, 2048), (130, 2304, 1000)):
            test_encode(lib, dev, dtype, n, d, m, gen, stream)
        test_inject(lib, dev, dtype, 3, 2304, 1000, 17, gen, stream)
        for n, d, m, s, lam in ((1, 2304, 3000, 64, 4.0), (8, 64, 1000, 8, -2.0), (70, 67, 500, 40, 2.0)):
            test_steer(lib, dev, dtype, n, d, m, s, lam, gen, stream)
    for n, m, k in ((1, 1000, 10), (3, 20000, 100), (2, 1 << 18, 256), (9, 9000, 1024)):
        test_topk(lib, dev, n, m, k, gen, stream)
    if ctx:
        ctx.__exit__(None, None, None)
        torch.cuda.synchronize()
    test_stream_order(lib, dev, gen)
    test_errors(lib, dev)
    test_memory(lib, dev, gen)
    print(f"torch_contract ({args.device}, torch {torch.__version__}): {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
