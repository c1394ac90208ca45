#!/usr/bin/env python3
"""The memory-latency shape of compiled CUDA kernels, read off their SASS, without a GPU.

    cuobjdump -arch sm_90 -sass build/kernels/CMakeFiles/sas_kernels_objs.dir/cuda/steer.cu.o > steer.sass
    python3 native/bench/sass_summary.py steer.sass [NAME_SUBSTRING ...]

For each kernel whose demangled name contains one of the substrings (all kernels without one): its
registers-relevant facts and the sequence of its memory, barrier and branch instructions with runs
collapsed (`LDG.E.128x16` = 16 global loads in a row), so one can see whether a loop's loads are issued
together or one at a time, each waiting for the previous one's use (a dependent round trip to memory
per load: the decode-size kernels are latency-bound, so that is their time). Also counts local-memory
spills (LDL/STL).

cuobjdump is not in this machine's CUDA toolkit; Triton's wheel carries one (triton/backends/nvidia/bin/,
`pip download triton` then unzip), and the GPU machines have the full toolkit. Standard library only.
"""
import re
import subprocess
import sys

KEEP = ("LDG", "STG", "LDS", "STS", "LDL", "STL", "BAR", "ATOM", "RED", "MEMBAR", "SHFL", "EXIT", "BRA",
        "FFMA", "HMMA", "LDSM", "LDGSTS", "LDGDEPBAR", "DEPBAR")


def demangle(names):
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True).stdout
        return out.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return names


def summarize(lines):
    ops = []
    for line in lines:
        m = re.search(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]+)", line)
        if not m:
            continue
        op = m.group(1)
        head = op.split(".")[0]
        if head not in KEEP:
            continue
        # Loads and stores keep their width/kind (LDG.E.128, LDG.E.STRONG), the rest their name.
        ops.append(".".join(op.split(".")[:3]) if head in ("LDG", "STG", "LDL", "STL") else head)
    runs, prev, count = [], None, 0
    for op in ops + [None]:
        if op == prev:
            count += 1
            continue
        if prev is not None:
            runs.append(f"{prev}x{count}" if count > 1 else prev)
        prev, count = op, 1
    spills = sum(1 for op in ops if op.startswith(("LDL", "STL")))
    return " ".join(runs), spills


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    text = open(sys.argv[1]).read().split("\n")
    wanted = sys.argv[2:]
    starts = [i for i, line in enumerate(text) if "Function :" in line]
    names = demangle([text[i].split("Function :")[1].strip() for i in starts])
    for k, i in enumerate(starts):
        name = names[k]
        if wanted and not any(w in name for w in wanted):
            continue
        body = text[i:starts[k + 1] if k + 1 < len(starts) else len(text)]
        seq, spills = summarize(body)
        print(f"== {name}\n   spills (LDL/STL): {spills}\n   {seq}\n")


if __name__ == "__main__":
    main()
