"""Run a layer in a fresh, isolated interpreter of the target's Python.

The interpreter runs with ``-I -S -B``: no environment variables, no user or
system site-packages, no bytecode written, and only the layer on ``sys.path``,
so what imports here imports on Lambda. It is either a local Python of the
target's version or the one inside the Docker build image
(``docker.ContainerPython``).
"""

from __future__ import annotations

import json
import platform
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlayer.contract import DEFAULT_TEXT_FIELD
from mlayer.errors import BuildError, MlayerError
from mlayer.targets import Target

PROBE = Path(__file__).with_name("_probe.py")
COMPILE = Path(__file__).with_name("_compile.py")
ISOLATED = ("-I", "-S", "-B")


class Python(Protocol):
    """An interpreter of the target's version that can run a script on local paths."""

    @property
    def description(self) -> str: ...

    def run(self, arguments: Sequence[str], *, timeout: float) -> tuple[int, str]:
        """Run ``python ARGUMENTS``; (exit code, combined output)."""
        ...


@dataclass(frozen=True)
class LocalPython:
    path: Path

    @property
    def description(self) -> str:
        return str(self.path)

    def run(self, arguments: Sequence[str], *, timeout: float) -> tuple[int, str]:
        try:
            done = subprocess.run(
                [str(self.path), *arguments],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"{self.path} did not finish in {timeout:.0f} s") from exc
        return done.returncode, done.stdout + done.stderr


def host_machine() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def local_python(target: Target) -> LocalPython | None:
    """A Python of the target's version on this machine, if the target can run here."""
    from mlayer.local import find_interpreter  # the same search invoke --local uses

    if host_machine() != target.machine:
        return None
    try:
        return LocalPython(find_interpreter(target))
    except MlayerError:
        return None


@dataclass(frozen=True)
class ProbeResult:
    failed: dict[str, str]
    predictions: list[Any] | None
    error: str | None
    files: tuple[str, ...] = ()
    modules: tuple[str, ...] = field(default=())


def probe(
    python: Python,
    site: Path,
    *,
    imports: Sequence[str],
    models: Sequence[Path] = (),
    event: Path | None = None,
    text_field: str = DEFAULT_TEXT_FIELD,
    text_is_json: bool = False,
    trace: bool = False,
    timeout: float = 600,
) -> ProbeResult:
    """Import ``imports`` (and run the sample model) with only ``site`` on the path."""
    with tempfile.TemporaryDirectory(prefix="mlayer-probe-", dir=site.resolve().parent) as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec = {
            "site": str(site.resolve()),
            "imports": list(imports),
            "models": [str(p.resolve()) for p in models],
            "event": str(event.resolve()) if event else None,
            "text_field": text_field,
            "text_is_json": text_is_json,
            "trace": trace,
            "out": str(out_path),
        }
        spec_path.write_text(json.dumps(spec))
        code, output = python.run([*ISOLATED, str(PROBE), str(spec_path)], timeout=timeout)
        if code != 0 or not out_path.is_file():
            last = output.strip().splitlines()[-1] if output.strip() else f"exit code {code}"
            raise BuildError(f"the layer's interpreter ({python.description}) crashed: {last}")
        raw = json.loads(out_path.read_text())
    return ProbeResult(
        failed=raw["failed"],
        predictions=raw["predictions"],
        error=raw["error"],
        files=tuple(raw.get("files", ())),
        modules=tuple(raw.get("modules", ())),
    )


def verify_imports(python: Python, site: Path, packages: Sequence[str], *, keep_note: str) -> None:
    """Import every top-level package; a failure names the package."""
    result = probe(python, site, imports=packages)
    if result.failed:
        name, reason = next(iter(result.failed.items()))
        raise BuildError(
            f"verification failed: 'import {name}' in a fresh {python.description} with only "
            f"the layer on the path raised {reason}{keep_note}"
        )


def compile_bytecode(
    python: Python, site: Path, *, sourceless: bool, timeout: float = 1800
) -> tuple[int, list[str]]:
    """Compile every module of ``site`` to unchecked-hash .pyc; (modules, failures)."""
    mode = "sourceless" if sourceless else "cached"
    code, output = python.run(
        ["-I", str(COMPILE), str(site.resolve()), "/opt/python", mode], timeout=timeout
    )
    if code != 0:
        last = output.strip().splitlines()[-1] if output.strip() else f"exit code {code}"
        raise BuildError(f"compiling bytecode with {python.description} failed: {last}")
    total = next((int(x.split()[1]) for x in output.splitlines() if x.startswith("total ")), 0)
    failed = [x.split(" ", 1)[1] for x in output.splitlines() if x.startswith("failed ")]
    return total, failed
