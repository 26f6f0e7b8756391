"""Compile a layer's modules to PEP 552 unchecked-hash bytecode (run by the target's Python).

Usage: python -I _compile.py SITE PREFIX cached|sourceless

Standard library only: it runs in the target's interpreter, which may be the one
inside a build container. Prints ``total N`` and then one ``. `` line per 200
files compiled, for the caller's progress bar, and ``failed PATH`` for a module
that does not compile (left as source).
"""

from __future__ import annotations

import os
import py_compile
import sys
from concurrent.futures import ProcessPoolExecutor

STEP = 200


def compile_one(args: tuple[str, str, str, bool]) -> tuple[str, bool]:
    path, site, prefix, sourceless = args
    relative = os.path.relpath(path, site)
    # The name tracebacks show: where Lambda mounts the layer, not the build directory.
    shown = os.path.join(prefix, relative)
    target = path + "c" if sourceless else None
    try:
        py_compile.compile(
            path,
            cfile=target,
            dfile=shown,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except (py_compile.PyCompileError, SyntaxError, ValueError, UnicodeDecodeError):
        return path, False
    if sourceless:
        os.remove(path)
    return path, True


def main() -> None:
    site, prefix, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    files = sorted(
        os.path.join(dirpath, name)
        for dirpath, _dirs, names in os.walk(site)
        for name in names
        if name.endswith(".py")
    )
    print(f"total {len(files)}", flush=True)
    jobs = [(path, site, prefix, mode == "sourceless") for path in files]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for count, (path, ok) in enumerate(pool.map(compile_one, jobs, chunksize=50), 1):
            if not ok:
                print(f"failed {path}", flush=True)
            if count % STEP == 0:
                print(".", flush=True)


if __name__ == "__main__":
    main()
