#!/usr/bin/env python3
"""Rewrites a CUDA source so a C++ compiler can build it against native/emu/cuda_emu.h.

    python3 native/emu/cu2cpp.py IN OUT

Two rewrites, nothing else changes (line numbers are kept, so compiler messages point at the original):
  kernel<T...><<<grid, block, smem, stream>>>(args);  ->  ::emu::launch(kernel<T...>, ::emu::Cfg(grid, block, smem, stream), args);
  extern __shared__ T name[];                          ->  static T *const name = reinterpret_cast<T *>(::emu::g_dyn_smem);
A launch must start its line (after indentation), as every launch in kernels/cuda does.
"""
import re
import sys

LAUNCH = re.compile(r"^([ \t]*)([^\s][^\n]*?)<<<([\s\S]*?)>>>\((\s*\))?", re.M)
DYN_SMEM = re.compile(r"extern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([\w:<>]+)\s+(\w+)\s*\[\s*\]\s*;")


def launch(m):
    indent, kernel, cfg, empty_args = m.group(1), m.group(2), m.group(3), m.group(4)
    close = ")" if empty_args else ", "
    return f"{indent}::emu::launch({kernel}, ::emu::Cfg({cfg}){close}"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src = open(sys.argv[1]).read()
    out, n = LAUNCH.subn(launch, src)
    out, k = DYN_SMEM.subn(r"static \1 *const \2 = reinterpret_cast<\1 *>(::emu::g_dyn_smem);", out)
    if "<<<" in out:
        raise SystemExit(f"cu2cpp: {sys.argv[1]}: a launch was not rewritten")
    with open(sys.argv[2], "w") as f:
        f.write(f'#line 1 "{sys.argv[1]}"\n' + out)


if __name__ == "__main__":
    main()
