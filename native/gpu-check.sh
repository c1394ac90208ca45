#!/usr/bin/env bash
# One bounded GPU session: build with CUDA, run the native tests (CUDA vs the CPU twins) and the C API
# against PyTorch on torch's own CUDA tensors and streams (torch_contract.py), time each opt-in CUDA
# variant beside its default (sas_bench --ab), compute-sanitizer's memcheck on the tests, then the kernels'
# grid (sas_bench --full), f16/f32, Nsight Compute, racecheck and synccheck on the tests, the PyTorch
# composites doing the same jobs (torch_baseline.py), and three reports (ab, targets, gpu).
#
#   bash native/gpu-check.sh          # from the repository root; results under $OUT (default ./gpu-out)
#
# Lent GPU time is short and a killed step returns nothing, so every step runs under `timeout`
# against one deadline (GPU_CHECK_BUDGET_S, default 400 s), a failing step never stops the later ones
# (each exit code lands in $OUT/summary.txt), and time is kept back for the torch baseline.
# Worst case is about BUDGET + 60 s. Needs nvcc, CMake >= 3.25, a C++17 compiler; torch is optional.
set -euo pipefail

OUT="${OUT:-./gpu-out}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
BUDGET="${GPU_CHECK_BUDGET_S:-400}"
TORCH_RESERVE="${GPU_CHECK_TORCH_RESERVE:-120}"  # seconds kept for torch_baseline.py (--max-seconds is 25 s less)
GRID_DS="${GPU_CHECK_DS:-2304 3584}"             # d values of the --full grid
WITH_TORCH="${GPU_CHECK_TORCH:-1}"               # 0 skips the PyTorch baseline (a quicker trial run)
WITH_FULL="${GPU_CHECK_FULL:-1}"                 # 0 skips the --full grid, the dtype sweep and ncu
WITH_NCU="${GPU_CHECK_NCU:-1}"                   # 0 skips Nsight Compute alone
SANITIZE_S="${GPU_CHECK_SANITIZE_S:-150}"        # racecheck, synccheck: cap of each tool over the four tests
SANITIZE_TEST_S="${GPU_CHECK_SANITIZE_TEST_S:-45}"  # ... and of each test under it
PY="${PYTHON:-python3}"
BUILD=build-gpu
JOBS="${GPU_CHECK_JOBS:-16}"  # the lent machines have 16 cores; lower it for a trial run elsewhere
BENCH="$BUILD/native/bench/sas_bench"
SECONDS=0
: >"$OUT/summary.txt"

note() { echo "$*" | tee -a "$OUT/summary.txt"; }
# Seconds a step may take: its own cap, less what must stay for the steps after it (never below 0).
allow() {
  local cap=$1 left=$((BUDGET - SECONDS - $2))
  ((left < cap)) && cap=$left
  ((cap < 0)) && cap=0
  echo "$cap"
}
# run NAME CAP KEEP LOG CMD...: runs CMD under timeout, output to the terminal and LOG; records rc (124 = timed
# out) in summary.txt and in LAST_RC (-1: skipped).
LAST_RC=-1
run() {
  local name=$1 t; t=$(allow "$2" "$3"); local log=$4; shift 4
  LAST_RC=-1
  if ((t < 5)); then note "$name: skipped (no time left, ${SECONDS}s used)"; return 0; fi
  local rc=0 t0=$SECONDS
  timeout -k 10 "$t" "$@" 2>&1 | tee "$log" || rc=$?
  note "$name: rc=$rc ($((SECONDS - t0))s, limit ${t}s)"
  LAST_RC=$rc
  return 0
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown) $(git status --porcelain 2>/dev/null | wc -l) changed files"
  echo "host: $(uname -srm), $(nproc) cores"
  command -v nvcc >/dev/null && nvcc --version | tail -2
  cmake --version | head -1 || true
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' 2>&1 || true
} >"$OUT/env.txt"
if command -v nvidia-smi >/dev/null; then nvidia-smi >"$OUT/gpu.txt" 2>&1 || true; else echo "no nvidia-smi" >"$OUT/gpu.txt"; fi
cat "$OUT/env.txt" "$OUT/gpu.txt"

# 1. Build. SAS_CUDA=ON fails loudly without nvcc; SAS_BUILD_TESTS (default ON) brings ctest + sas_bench.
# Only for the lent GPU's own architecture (nvidia-smi's compute capability, e.g. 9.0 -> "90-real"): CI
# compiles all four (sm_80/86/89/90 + PTX) on every run, and device code for the other three and the PTX
# would take most of this build's lent seconds for nothing run here. GPU_CHECK_ARCHS overrides it ("" =
# the default four, the build CI compiles).
ARCHS="${GPU_CHECK_ARCHS-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')}"
[[ $ARCHS =~ ^[0-9]+$ ]] && ARCHS="$ARCHS-real"
ARCH_FLAG=()
[[ -n $ARCHS ]] && ARCH_FLAG=("-DCMAKE_CUDA_ARCHITECTURES=$ARCHS")
echo "CUDA architectures: ${ARCHS:-default (80-real;86-real;89-real;90)}" >>"$OUT/env.txt"
rm -rf "$BUILD"
run configure 120 "$TORCH_RESERVE" "$OUT/configure.txt" \
  cmake -S . -B "$BUILD" -DSAS_CUDA=ON -DSAS_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Release "${ARCH_FLAG[@]}"
run build 240 "$TORCH_RESERVE" "$OUT/build.txt" cmake --build "$BUILD" -j "$JOBS"

if [[ -x "$BENCH" ]]; then
  # 2. Tests: with a GPU present each kernel also runs on CUDA and is compared with its CPU twin.
  # -V keeps the passing tests' lines too: they say how many CUDA cases ran (or "not run").
  run ctest 120 "$TORCH_RESERVE" "$OUT/ctest.txt" ctest --test-dir "$BUILD" --output-on-failure -V
  ctest_rc=$LAST_RC contract_rc=-1
  # 2a. The C API on PyTorch's CUDA tensors and a torch pool stream, as the Java binding uses it (Java
  # itself cannot run here): each kernel against the torch composite with every variant off and on, stream
  # order, error statuses, no memory growth over 1000 steps.
  if "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    run torch-contract 90 "$TORCH_RESERVE" "$OUT/torch-contract.txt" \
      "$PY" native/tests/torch_contract.py --lib "$BUILD/lib/libsas_kernels.so" --device cuda
    contract_rc=$LAST_RC
  else
    note "torch-contract: skipped (no torch with CUDA for $PY)"
  fi
  # 3. Each CUDA kernel variant (kernels/src/variants.h: SAS_CUDA_TC_GEMV, SAS_CUDA_TC_WIDE, SAS_CUDA_GEMV_XT,
  # SAS_CUDA_TC_GEMM, SAS_CUDA_SPLITK_ONE, SAS_CUDA_TOPK_STAGE, SAS_CUDA_TOPK_REG, SAS_CUDA_TOPK_HIST,
  # SAS_CUDA_SPARSE_SPLIT, SAS_CUDA_SUBSET_GEMM, SAS_CUDA_TOPK_ACT, SAS_CUDA_STEER_ONE, SAS_CUDA_STEER_CLUSTER, SAS_CUDA_PDL,
  # SAS_CUDA_STEER_PREFETCH, the last two also beside each other fused-step variant) off and on, same
  # process and data (sas_bench --ab; the fused step also cold, behind a copy that evicts L2);
  # ctest and torch_contract.py above already checked both sides of each on small
  # shapes, and --ab compares each variant's output with the variants-off output at these big ones
  # (a "DIFFER" line and exit status 3 when they disagree).
  run ab-fused 60 "$TORCH_RESERVE" "$OUT/sas_bench-ab-fused.txt" \
    "$BENCH" --device cuda --ab --kernels fused --d 2304,3584 --m 16384,1048576 --n 1,8,64 --s 8,64,256 \
    --min-ms 20 --csv "$OUT/sas_bench-ab-fused.csv"
  run ab-topk 60 "$TORCH_RESERVE" "$OUT/sas_bench-ab-topk.txt" \
    "$BENCH" --device cuda --ab --kernels topk --d 2304 --m 16384,65536,262144,1048576 --n 1,8,64,512 \
    --s 8,64,256 --min-ms 20 --csv "$OUT/sas_bench-ab-topk.csv"
  run ab-sparse 45 "$TORCH_RESERVE" "$OUT/sas_bench-ab-sparse.txt" \
    "$BENCH" --device cuda --ab --kernels sparse --d 2304 --m 16384,65536,262144,1048576 --n 1,8,64 \
    --min-ms 20 --csv "$OUT/sas_bench-ab-sparse.csv"
  run ab-subset 40 "$TORCH_RESERVE" "$OUT/sas_bench-ab-subset.txt" \
    "$BENCH" --device cuda --ab --kernels subset --d 2304 --m 16384,1048576 --n 1,8,64,512 --s 8,64,256 \
    --min-ms 20 --csv "$OUT/sas_bench-ab-subset.csv"
  run ab-topk-act 40 "$TORCH_RESERVE" "$OUT/sas_bench-ab-topk-act.txt" \
    "$BENCH" --device cuda --ab --kernels topk_act --d 2304 --m 16384,1048576 --n 1,8,64 --s 64 \
    --min-ms 20 --csv "$OUT/sas_bench-ab-topk-act.csv"
  run ab-encode 90 "$TORCH_RESERVE" "$OUT/sas_bench-ab-encode.txt" \
    "$BENCH" --device cuda --ab --kernels encode --d 2304,3584 --m 16384,65536,262144,1048576 --n 1,2,8,16,64,512 \
    --min-ms 20 --csv "$OUT/sas_bench-ab-encode.csv"
  # 3a. The variants that passed and won (ab_report.py --winners: faster on the whole, nowhere more than
  # 10% slower) are switched on for the grid, the dtype sweep and ncu below, so the grid shows the kernels
  # as they would be with those variants adopted as defaults (each row's variant column names them).
  # Only when ctest and torch_contract.py passed; GPU_CHECK_ADOPT=0 keeps the defaults.
  WINNERS=()
  if [[ ${GPU_CHECK_ADOPT:-1} == 1 && $ctest_rc == 0 && $contract_rc == 0 ]]; then
    mapfile -t WINNERS < <("$PY" native/bench/ab_report.py --winners "$OUT" 2>/dev/null | grep -E '^SAS_CUDA_[A-Z_]+=1$' || true)
  fi
  note "variants on for the grid: ${WINNERS[*]:-none} (ctest rc=$ctest_rc, torch-contract rc=$contract_rc)"
  # 4. compute-sanitizer memcheck over the test executables (out-of-bounds and misaligned accesses
  # the comparisons could miss); each executable separately, so a timeout loses only the rest, and
  # test_large (buffers of up to 17 GB, zeroed by a kernel the sanitizer instruments) last.
  if command -v compute-sanitizer >/dev/null; then
    run memcheck 120 "$((TORCH_RESERVE + 30))" "$OUT/memcheck.txt" bash -c '
      rc=0
      for t in $(ls "$0"/native/tests/test_* | grep -v /test_large$) "$0"/native/tests/test_large; do
        [[ -x $t && -f $t ]] || continue
        echo "== $t"
        log="$1/memcheck-$(basename "$t").txt"
        if ! compute-sanitizer --tool memcheck --error-exitcode 99 --print-limit 20 "$t" >"$log" 2>&1; then
          # A test that never calls CUDA (test_convert) is not instrumented, and the sanitizer says so.
          if grep -q "terminated before first instrumented API call" "$log"; then echo "no CUDA calls: $t"
          else rc=1; echo "FAILED: $t"; fi
        fi
        grep -E "ERROR SUMMARY|^FAILED|passed|failed" "$log" | tail -4
      done
      exit $rc' "$BUILD" "$OUT"
  else
    note "memcheck: skipped (no compute-sanitizer)"
  fi
  # 4a. racecheck (shared-memory hazards between threads without a barrier between them) and synccheck
  # (barriers some threads of a block or warp never reach) over the kernels' tests: the emulation
  # (native/emu) switches threads only at sync points, so these are the races it cannot show. The tests
  # run each opt-in variant off and on. After the grid, so a slow sanitizer costs the grid nothing.
  SANITIZE_LATER=0
  command -v compute-sanitizer >/dev/null && SANITIZE_LATER=1
  if [[ $WITH_FULL == 0 ]]; then
    note "bench-full, dtypes, ncu: skipped (GPU_CHECK_FULL=0)"
  else
    # The --full grid, one (m, d) per process: sas_bench writes its CSV only at the end, so a timeout
    # loses one part, not the grid. Small m first; top-k (independent of d) with the first d only.
    mkdir -p "$OUT/sas_bench-parts"
    for m in 16384 65536 262144 1048576; do
      for d in $GRID_DS; do
        kernels=encode,sparse,topk,subset,inject,pack,fused
        [[ $d == 3584 ]] && kernels=encode,sparse,subset,inject,pack,fused
        run "bench-full d=$d m=$m" 150 "$TORCH_RESERVE" "$OUT/sas_bench-parts/d$d-m$m.txt" \
          env "${WINNERS[@]}" "$BENCH" --device cuda --full --d "$d" --m "$m" --kernels "$kernels" --min-ms 20 \
          --csv "$OUT/sas_bench-parts/d$d-m$m.csv"
      done
    done
    # One CSV for the whole grid: the parts' rows under one header (each part measured its own peak).
    shopt -s nullglob
    parts=("$OUT"/sas_bench-parts/*.csv)
    if ((${#parts[@]})); then awk 'FNR == 1 && NR != 1 { next } { print }' "${parts[@]}" >"$OUT/sas_bench-cuda.csv"; fi
    # The other dtypes on a few decode-sized shapes (the grid above is bf16, the dtype Gemma 2 runs in).
    for dt in f16 f32; do
      run "bench-dtype=$dt" 40 "$TORCH_RESERVE" "$OUT/sas_bench-$dt.txt" \
        env "${WINNERS[@]}" "$BENCH" --device cuda --dtype "$dt" --d 2304 --m 16384,1048576 --n 1,8 --s 64 --kernels encode,topk,fused \
        --min-ms 20 --csv "$OUT/sas_bench-$dt.csv"
    done
    # Nsight Compute on one decode-sized configuration (d=2304, m=16k, n=1, s=k=64): each kernel's duration
    # and DRAM throughput, to see where a step's time goes (clocks left alone: --clock-control none).
    if [[ $WITH_NCU == 0 ]]; then
      note "ncu: skipped (GPU_CHECK_NCU=0)"
    elif command -v ncu >/dev/null; then
      run ncu 60 "$TORCH_RESERVE" "$OUT/ncu.txt" env "${WINNERS[@]}" ncu --clock-control none --section SpeedOfLight \
        "$BENCH" --device cuda --m 16384 --n 1 --s 64 --kernels encode,topk,fused --reps 2 --min-ms 0
      # Top-k's phases where they miss the target (64 rows of 1M, k = 64): where their warps stall, line
      # by line (the build has -lineinfo; SourceCounters lists the top stall locations).
      run ncu-topk 60 "$TORCH_RESERVE" "$OUT/ncu-topk.txt" env "${WINNERS[@]}" ncu --clock-control none \
        --section SpeedOfLight --section WarpStateStats --section SourceCounters -k regex:topk --launch-count 2 \
        "$BENCH" --device cuda --m 1048576 --n 64 --s 64 --kernels topk --reps 1 --min-ms 0
      # ... and the same for SAS_CUDA_TOPK_REG's phases (keys in registers), beside the default's.
      run ncu-topk-reg 45 "$TORCH_RESERVE" "$OUT/ncu-topk-reg.txt" env "${WINNERS[@]}" SAS_CUDA_TOPK_REG=1 ncu \
        --clock-control none --section SpeedOfLight --section WarpStateStats --section SourceCounters \
        -k regex:topk --launch-count 2 \
        "$BENCH" --device cuda --m 1048576 --n 64 --s 64 --kernels topk --reps 1 --min-ms 0
      # ... and SAS_CUDA_TOPK_HIST's six kernels of one call (histogram, threshold, filter, select, and the
      # default's two, whose blocks return at once for the rows done): each one's time and DRAM throughput.
      run ncu-topk-hist 30 "$TORCH_RESERVE" "$OUT/ncu-topk-hist.txt" env "${WINNERS[@]}" SAS_CUDA_TOPK_HIST=1 ncu \
        --clock-control none --section SpeedOfLight -k regex:topk --launch-count 6 \
        "$BENCH" --device cuda --m 1048576 --n 64 --s 64 --kernels topk --reps 1 --min-ms 0
      # ... and the decode step on thread-block clusters (SAS_CUDA_STEER_CLUSTER) beside the default's, where
      # each one's time goes (n = 1, s = 64; the cluster kernel's stalls at its barrier and DSMEM reads).
      run ncu-steer-cluster 30 "$TORCH_RESERVE" "$OUT/ncu-steer-cluster.txt" env "${WINNERS[@]}" \
        SAS_CUDA_STEER_CLUSTER=1 ncu --clock-control none --section SpeedOfLight --section WarpStateStats \
        --section SourceCounters -k regex:steer --launch-count 2 \
        "$BENCH" --device cuda --m 16384 --n 1 --s 64 --kernels fused --reps 1 --min-ms 0
    else
      note "ncu: skipped (not installed)"
    fi
  fi
  if ((SANITIZE_LATER)); then
    # Smallest tests first; each test under its own cap (GPU_CHECK_SANITIZE_TEST_S), so one slow test
    # (the instrumented kernels run 10-100x slower) cannot take the others' time. A test stopped at its cap
    # still reports the hazards found up to then ("partial").
    for tool in racecheck synccheck; do
      run "$tool" "$SANITIZE_S" "$TORCH_RESERVE" "$OUT/$tool.txt" bash -c '
        rc=0
        for t in "$0"/native/tests/test_{shared,topk,encode,steer}; do
          [[ -x $t ]] || continue
          echo "== $t"
          log="$1/$2-$(basename "$t").txt"
          trc=0
          timeout -k 5 "$3" compute-sanitizer --tool "$2" --error-exitcode 99 --print-limit 20 "$t" >"$log" 2>&1 || trc=$?
          hazards=$(grep -cE "Race reported|Barrier error|Invalid __sync|Error:" "$log" || true)
          if ((trc == 124 || trc == 137)); then echo "partial: $t stopped at ${3}s, $hazards hazard lines before that"
          elif ((trc != 0)); then rc=1; echo "FAILED: $t (rc=$trc)"; fi
          ((hazards > 0)) && rc=1
          grep -E "ERROR SUMMARY|RACECHECK SUMMARY|^FAILED|passed|failed" "$log" | tail -4
        done
        exit $rc' "$BUILD" "$OUT" "$tool" "$SANITIZE_TEST_S"
    done
  else
    note "racecheck, synccheck: skipped (no compute-sanitizer)"
  fi
else
  note "build failed: no $BENCH (see build.txt); ctest and sas_bench skipped"
fi

# 5. The PyTorch composites on the same grid; allowed to run past the deadline by up to 60 s.
torch_t=$((BUDGET - SECONDS)); ((torch_t > TORCH_RESERVE)) && torch_t=$TORCH_RESERVE; ((torch_t < 60)) && torch_t=60
if [[ $WITH_TORCH == 0 ]]; then
  note "torch-baseline: skipped (GPU_CHECK_TORCH=0)"
elif "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  BUDGET=$((SECONDS + torch_t))
  run torch-baseline "$torch_t" 0 "$OUT/torch-baseline.txt" \
    "$PY" native/bench/torch_baseline.py --device cuda --max-seconds $((torch_t - 25)) --csv "$OUT/torch-baseline.csv"
else
  note "torch-baseline: skipped (no torch with CUDA for $PY)"
fi

# 6. The reports, so the numbers come back as tables too (standard-library Python, seconds).
for r in ab_report targets_report gpu_report; do
  "$PY" "native/bench/$r.py" "$OUT" >"$OUT/$r.md" 2>&1 || echo "$r.py: no report (see $r.md)"
done

echo
echo "== summary (${SECONDS}s) =="
cat "$OUT/summary.txt"
grep -hE "passed, [0-9]+ failed|not run|tests passed|tests failed" "$OUT/ctest.txt" "$OUT/torch-contract.txt" 2>/dev/null || true
grep -hE "^DIFFER|^--ab:" "$OUT"/sas_bench-ab-*.txt 2>/dev/null || true
for f in "$OUT"/sas_bench-cuda.csv "$OUT"/torch-baseline.csv; do
  [[ -f $f ]] && echo "$(basename "$f"): $(($(wc -l <"$f") - 1)) rows"
done
echo "results in $OUT"
# The device tool returns at most 8 files: PACK=FILE.tgz bundles everything into one.
if [[ -n "${PACK:-}" ]]; then tar czf "$PACK" -C "$OUT" . && echo "packed into $PACK"; fi
