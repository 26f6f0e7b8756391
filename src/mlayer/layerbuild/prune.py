"""``--prune``: keep only what the user's model really uses.

The sample run (``verify.probe(trace=True)``) records, through an audit hook,
every file opened (data files too: scikit-learn reads a ``.css`` file at
import), the modules loaded and the shared libraries mapped. Those files and
every package's metadata stay; the rest goes. The pruned layer is then run on
the same sample and must predict exactly what the full one did.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from mlayer.layerbuild.verify import host_machine


def prune(site: Path, kept: Iterable[str]) -> tuple[int, int]:
    """Delete every file of ``site`` not in ``kept`` (relative paths) nor in a
    ``.dist-info``; (files removed, bytes removed)."""
    keep = set(kept)
    removed = size = 0
    for dirpath, _dirs, files in os.walk(site):
        here = Path(dirpath)
        relative_dir = here.relative_to(site)
        if relative_dir.parts and relative_dir.parts[0].endswith(".dist-info"):
            continue
        for name in files:
            relative = (relative_dir / name).as_posix()
            if relative in keep:
                continue
            path = here / name
            size += path.lstat().st_size
            removed += 1
            path.unlink()
    for dirpath, _dirs, _files in os.walk(site, topdown=False):
        if Path(dirpath) != site and not os.listdir(dirpath):
            os.rmdir(dirpath)
    return removed, size


def strip_extensions(site: Path, machine: str) -> int:
    """``strip --strip-unneeded`` the extension modules, never ``*.libs``; bytes saved.

    auditwheel-patched libraries in ``<package>.libs/`` break when stripped
    ("ELF load command address/offset not page-aligned"), so they are skipped.
    Stripping writes a new file and renames it over the old one, so a hard-linked
    copy elsewhere is never modified. Skipped when the host's strip cannot read
    the target's machine code.
    """
    strip = shutil.which("strip")
    if not strip or machine != host_machine():
        return 0
    saved = 0
    for path in sorted(site.rglob("*.so")):
        first = path.relative_to(site).parts[0]
        if first.endswith(".libs") or path.is_symlink():
            continue
        before = path.stat().st_size
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            stripped = Path(tmp.name)
        done = subprocess.run(
            [strip, "--strip-unneeded", "-o", str(stripped), str(path)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            stripped.unlink(missing_ok=True)
            continue
        stripped.chmod(path.stat().st_mode)
        stripped.replace(path)
        saved += before - path.stat().st_size
    return saved
