#!/usr/bin/env python3
"""Rewrites a CUDA source so a C++ compiler can build it against native/emu/cuda_emu.h.

    python3 native/emu/cu2cpp.py IN OUT

Three rewrites, nothing else changes (line numbers are kept, so compiler messages point at the original):
  kernel<T...><<<grid, block, smem, stream>>>(args);  ->  ::emu::launch(kernel<T...>, ::emu::Cfg(grid, block, smem, stream), args);
  extern __shared__ T name[];                          ->  T *const name = reinterpret_cast<T *>(::emu::dynamic_shared());
  __shared__ [__align__(A)] T name[D1][D2];            ->  static char name__emu_tag; auto &name = ::emu::block_shared<T[D1][D2], A>(&name__emu_tag);
so that every block has its own shared memory (the tag, a static of the kernel's instantiation, names the
variable). A launch must start its line (after indentation), as every launch in kernels/cuda does; so must a
__shared__ declaration, and one that is not rewritten stops the build.
"""
import re
import sys

LAUNCH = re.compile(r"^([ \t]*)([^\s][^\n]*?)<<<([\s\S]*?)>>>\((\s*\))?", re.M)
DYN_SMEM = re.compile(r"extern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([\w:<>]+)\s+(\w+)\s*\[\s*\]\s*;")
STATIC_SMEM = re.compile(r"^([ \t]*)__shared__\s+(?:__align__\((\d+)\)\s+)?([\w:<>, ]+?)\s+(\w+)\s*((?:\[[^\]\n]*\])*)\s*;", re.M)


def launch(m):
    indent, kernel, cfg, empty_args = m.group(1), m.group(2), m.group(3), m.group(4)
    close = ")" if empty_args else ", "
    return f"{indent}::emu::launch({kernel}, ::emu::Cfg({cfg}){close}"


def static_smem(m):
    indent, align, typ, name, dims = m.group(1), m.group(2), m.group(3).strip(), m.group(4), m.group(5)
    targs = f"{typ}{dims}" + (f", {align}" if align else "")
    return f"{indent}static char {name}__emu_tag; auto &{name} = ::emu::block_shared<{targs}>(&{name}__emu_tag);"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src = open(sys.argv[1]).read()
    out, _ = LAUNCH.subn(launch, src)
    out, _ = DYN_SMEM.subn(r"\1 *const \2 = reinterpret_cast<\1 *>(::emu::dynamic_shared());", out)
    out, _ = STATIC_SMEM.subn(static_smem, out)
    if "<<<" in out:
        raise SystemExit(f"cu2cpp: {sys.argv[1]}: a launch was not rewritten")
    left = [l for l in out.splitlines() if re.match(r"^\s*(extern\s+)?__shared__", l)]
    if left:
        raise SystemExit(f"cu2cpp: {sys.argv[1]}: a __shared__ declaration was not rewritten: {left[0].strip()}")
    with open(sys.argv[2], "w") as f:
        f.write(f'#line 1 "{sys.argv[1]}"\n' + out)


if __name__ == "__main__":
    main()
