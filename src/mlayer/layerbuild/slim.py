"""Safe slimming: remove what a layer never needs at run time, nothing else.

Two things that look safe are not, and this module never does them:
- ``strip`` on the libraries in ``<package>.libs/``: auditwheel patched them
  with patchelf, and stripping breaks the import with "ELF load command
  address/offset not page-aligned";
- deleting every ``tests/`` folder: numpy 2.2's ``numpy.testing`` imports
  ``numpy._core.tests._natype`` at run time. Test modules that other modules
  import are found by reading the imports of every non-test module, and kept.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Build-time only files: type stubs, Cython and C sources, headers.
REMOVED_SUFFIXES = (".pyi", ".pyx", ".pxd", ".pxi", ".c", ".cc", ".cpp", ".cxx", ".h", ".hpp")
TEST_DIRS = frozenset({"tests", "test"})
DOC_DIRS = frozenset({"doc", "docs"})
# Console scripts pip writes with the build machine's interpreter in their shebang.
SCRIPT_DIRS = frozenset({"bin"})

_IMPORT = re.compile(
    r"^\s*(?:from\s+(\.*[\w.]*)\s+import\s+([\w, ()*]+)|import\s+([\w., ]+))", re.M
)


@dataclass
class SlimReport:
    """What slimming removed, by kind."""

    removed: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (files, bytes)
    kept_tests: list[str] = field(default_factory=list)

    def add(self, kind: str, files: int, size: int) -> None:
        old_files, old_size = self.removed.get(kind, (0, 0))
        self.removed[kind] = (old_files + files, old_size + size)

    @property
    def saved_bytes(self) -> int:
        return sum(size for _files, size in self.removed.values())

    def lines(self) -> list[str]:
        lines = [
            f"{kind}: {files} files, {size / 1e6:.1f} MB"
            for kind, (files, size) in sorted(self.removed.items(), key=lambda kv: -kv[1][1])
        ]
        if self.kept_tests:
            lines.append("kept (imported at run time): " + ", ".join(self.kept_tests))
        return lines


def slim(site: Path) -> SlimReport:
    """Remove build-time files, host bytecode, docs and unimported tests from ``site``."""
    report = SlimReport()
    keep = runtime_test_files(site)
    report.kept_tests = sorted(
        p.relative_to(site).as_posix() for p in keep if _in_test_dir(p, site)
    )
    for entry in list(site.iterdir()):
        if entry.is_dir() and entry.name in SCRIPT_DIRS:
            _remove_tree(entry, "console scripts", report)
    for dirpath, dirnames, filenames in os.walk(site, topdown=True):
        here = Path(dirpath)
        if _is_protected(here, site):
            dirnames[:] = []
            continue
        for name in list(dirnames):
            path = here / name
            if name == "__pycache__":
                _remove_tree(path, "host bytecode (__pycache__)", report)
            elif name in TEST_DIRS:
                _remove_tree(path, "tests", report, keep=keep)
            elif name in DOC_DIRS and not (path / "__init__.py").exists():
                _remove_tree(path, "docs", report)
            else:
                continue
            if not path.exists():
                dirnames.remove(name)
        for name in filenames:
            if name.endswith(REMOVED_SUFFIXES):
                path = here / name
                report.add("sources, headers and stubs", 1, path.stat().st_size)
                path.unlink()
    for entry in site.iterdir():  # folders emptied above (e.g. include/)
        if entry.is_dir() and not _is_protected(entry, site):
            _remove_empty_dirs(entry)
    return report


def _is_protected(path: Path, site: Path) -> bool:
    """``*.libs`` (auditwheel's vendored libraries) and ``*.dist-info`` stay untouched."""
    first = path.relative_to(site).parts[:1]
    return bool(first) and first[0].endswith((".libs", ".dist-info"))


def _files(path: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            yield Path(dirpath) / name


def _remove_tree(
    path: Path, kind: str, report: SlimReport, keep: Collection[Path] = frozenset()
) -> None:
    kept_here = {k for k in keep if k.is_relative_to(path)}
    if not kept_here:
        files = list(_files(path))
        report.add(kind, len(files), sum(f.stat().st_size for f in files if not f.is_symlink()))
        shutil.rmtree(path)
        return
    for file in list(_files(path)):
        if file not in kept_here and "__pycache__" not in file.parts:
            report.add(kind, 1, file.stat().st_size)
            file.unlink()
        elif "__pycache__" in file.parts:
            report.add("host bytecode (__pycache__)", 1, file.stat().st_size)
            file.unlink()
    _remove_empty_dirs(path)


def _remove_empty_dirs(root: Path) -> None:
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        with contextlib.suppress(OSError):  # not empty
            Path(dirpath).rmdir()


def _in_test_dir(path: Path, site: Path) -> bool:
    return any(part in TEST_DIRS for part in path.relative_to(site).parts[:-1])


def module_file(site: Path, dotted: str) -> Path | None:
    """The file that ``import dotted`` would load from ``site`` (source form), if any."""
    base = site.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def runtime_test_files(site: Path) -> set[Path]:
    """Files inside test folders that a module outside them imports (with their
    packages' ``__init__.py``), found by reading the imports, not running them."""
    keep: set[Path] = set()
    for source in site.rglob("*.py"):
        if _in_test_dir(source, site) or _is_protected(source.parent, site):
            continue
        try:
            text = source.read_text(errors="replace")
        except OSError:
            continue
        if "test" not in text:
            continue
        package = source.relative_to(site).with_suffix("").parts[:-1]
        if source.name == "__init__.py":
            package = source.relative_to(site).parts[:-1]
        for dotted in _imported_names(text, package):
            if not any(part in TEST_DIRS for part in dotted.split(".")):
                continue
            for name in (dotted, dotted.rsplit(".", 1)[0]):
                found = module_file(site, name)
                if found and _in_test_dir(found, site):
                    keep.add(found)
                    keep |= _parent_inits(found, site)
                    break
    return keep


def _parent_inits(path: Path, site: Path) -> set[Path]:
    inits = set()
    for parent in path.parents:
        if parent == site:
            break
        init = parent / "__init__.py"
        if init.is_file():
            inits.add(init)
    return inits


def _imported_names(text: str, package: tuple[str, ...]) -> Iterator[str]:
    """Dotted module names an ``import``/``from ... import`` statement may load."""
    for match in _IMPORT.finditer(text):
        source, names, plain = match.groups()
        if plain:
            for item in plain.split(","):
                yield item.strip().split(" ")[0]
            continue
        dots = len(source) - len(source.lstrip("."))
        module = source.lstrip(".")
        if dots:
            base = package[: len(package) - (dots - 1)] if dots > 1 else package
            module = ".".join([*base, module] if module else base)
        yield module
        for item in names.strip("() ").split(","):
            name = item.strip().split(" ")[0]
            if name and name != "*":
                yield f"{module}.{name}"
