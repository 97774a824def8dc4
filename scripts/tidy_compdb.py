#!/usr/bin/env python3
"""scripts/tidy_compdb.py BUILD_DIR OUT_DIR

Writes OUT_DIR/compile_commands.json for clang-tidy from BUILD_DIR/compile_commands.json:
- unity-build entries (CMake's Unity/unity_*.cxx) are expanded into one entry per source file
  they include, so every test source can be analysed on its own;
- GCC precompiled-header flags are dropped (clang cannot read GCC's .gch), as are -Werror and
  the generated protobuf sources and PCH stubs (never analysed);
- -std=gnu++23 / c++23 become -std=c++2b, the spelling clang 16 understands.
"""
import json
import os
import re
import shlex
import sys


def fix_args(args):
    out = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "-include" and i + 1 < len(args) and "cmake_pch" in args[i + 1]:
            skip = True
            continue
        if arg in ("-Winvalid-pch", "-Werror") or arg.startswith("-Werror="):
            continue
        m = re.fullmatch(r"-std=(gnu|c)\+\+(23|2b)", arg)
        if m:
            arg = "-std=c++2b"
        out.append(arg)
    return out


def with_file(args, old, new):
    return [new if a == old else a for a in args]


def main():
    build_dir, out_dir = sys.argv[1], sys.argv[2]
    with open(os.path.join(build_dir, "compile_commands.json"), encoding="utf-8") as f:
        entries = json.load(f)
    result = {}
    for entry in entries:
        args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
        args = fix_args(args)
        path = entry["file"]
        name = os.path.basename(path)
        if "/generated/" in path or name.startswith("cmake_pch"):
            continue
        if re.fullmatch(r"unity_\d+_cxx\.cxx", name):
            with open(path, encoding="utf-8") as unity:
                sources = re.findall(r'^#include "([^"]+)"', unity.read(), re.MULTILINE)
            for source in sources:
                result[source] = {"directory": entry["directory"], "file": source,
                                  "arguments": with_file(args, path, source)}
        else:
            result[path] = {"directory": entry["directory"], "file": path, "arguments": args}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "compile_commands.json"), "w", encoding="utf-8") as f:
        json.dump(sorted(result.values(), key=lambda e: e["file"]), f, indent=1)
    print(f"tidy: {len(result)} translation units in {os.path.join(out_dir, 'compile_commands.json')}")


if __name__ == "__main__":
    main()
