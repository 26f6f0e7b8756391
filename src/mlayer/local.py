"""``mlayer invoke --local``: run the handler as Lambda would, on this machine.

The layer zips are extracted into an /opt-like directory made read-only, the
function code into its own task directory, and a fresh interpreter of the
runtime's Python version runs the handler with ``-I -S -B``: the host's
site-packages are invisible, so an import that works here works on Lambda.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer.build.archive import safe_extract
from mlayer.errors import MlayerError, UsageError
from mlayer.model import MODEL_DIR
from mlayer.targets import Target

RUNTIME_SCRIPT = Path(__file__).with_name("_lambda_runtime.py")


@dataclass(frozen=True)
class Invocation:
    result: Any
    init_ms: float
    runs: list[dict[str, float]]
    max_memory_mb: int

    @property
    def report(self) -> dict[str, float]:
        first = self.runs[0]
        return {
            "init_ms": round(self.init_ms, 2),
            "duration_ms": first["duration_ms"],
            "billed_ms": first["billed_ms"],
            "max_memory_mb": self.max_memory_mb,
        }

    def report_line(self, memory_mb: int) -> str:
        report = self.report
        return (
            f"REPORT Duration: {report['duration_ms']:.2f} ms\tBilled Duration: "
            f"{report['billed_ms']:.0f} ms\tMemory Size: {memory_mb} MB\t"
            f"Max Memory Used: {report['max_memory_mb']:.0f} MB\t"
            f"Init Duration: {report['init_ms']:.2f} ms"
        )


def find_interpreter(target: Target) -> Path:
    """An interpreter of the runtime's Python version; never a different one."""
    wanted = target.python_dotted
    if ".".join(map(str, sys.version_info[:2])) == wanted:
        # The base interpreter, not a virtualenv's: -S hides site-packages anyway.
        return Path(getattr(sys, "_base_executable", sys.executable))
    candidates = [shutil.which(f"python{wanted}")]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{wanted}.*/bin/python{wanted}"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and _version_of(candidate) == wanted:
            return Path(candidate)
    raise MlayerError(
        f"no Python {wanted} interpreter found for {target.runtime} (looked for python{wanted} "
        f"on PATH and in {pyenv_root}/versions): install Python {wanted} to invoke locally"
    )


def _version_of(executable: str) -> str:
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return ""
    return out.stdout.strip()


def _make_read_only(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        Path(dirpath).chmod(0o555)


def _make_writable(root: Path) -> None:
    for dirpath, _dirs, _files in os.walk(root):
        Path(dirpath).chmod(0o755)


def invoke_local(
    *,
    target: Target,
    event_path: Path,
    layer_zips: list[Path],
    function_zip: Path,
    handler: str,
    environment: dict[str, str],
    memory_mb: int,
    timeout_s: int,
    repeat: int = 1,
    on_log: Any = None,
) -> Invocation:
    """Run ``handler`` on the event in a fresh interpreter with the layers under an /opt."""
    if not event_path.is_file():
        raise UsageError(f"event file {event_path} does not exist")
    try:
        json.loads(event_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"event file {event_path} is not JSON: {exc}") from exc
    for path in [*layer_zips, function_zip]:
        if not path.is_file():
            raise UsageError(f"layer zip {path} does not exist: build or publish it first")
    interpreter = find_interpreter(target)

    with tempfile.TemporaryDirectory(prefix="mlayer-invoke-") as tmp:
        root = Path(tmp)
        opt, task = root / "opt", root / "task"
        for layer in layer_zips:  # later layers overwrite earlier ones, as in Lambda
            safe_extract(layer, opt)
        safe_extract(function_zip, task)
        _make_read_only(opt)
        _make_read_only(task)
        out = root / "result.json"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(task),
            "LAMBDA_RUNTIME_DIR": str(root),
            "_HANDLER": handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{target.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": environment.get("AWS_LAMBDA_FUNCTION_NAME", "local"),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_REGION": environment.get("AWS_REGION", "us-east-1"),
            "LD_LIBRARY_PATH": f"{opt}/lib:{opt}/python/lib",
            "MLAYER_TIMEOUT_S": str(timeout_s),
            "MLAYER_MODEL_DIR": str(opt / MODEL_DIR),
            **{k: v for k, v in environment.items() if k.startswith("MLAYER_TEXT")},
        }
        command = [
            str(interpreter),
            "-I",
            "-S",
            "-B",
            str(RUNTIME_SCRIPT),
            str(task),
            str(opt),
            str(event_path.resolve()),
            str(out),
            str(repeat),
        ]
        try:
            completed = subprocess.run(
                command,
                env=env,
                cwd=task,
                capture_output=True,
                text=True,
                timeout=timeout_s * repeat + 120,
                check=False,
            )
        finally:
            _make_writable(root)
        if on_log and completed.stdout:
            on_log(completed.stdout.rstrip())
        if not out.is_file():
            last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise MlayerError(f"the handler's interpreter crashed: {last}")
        record = json.loads(out.read_text())
    if "error" in record:
        error = record["error"]
        if on_log:
            on_log(error["traceback"].rstrip())
        raise MlayerError(
            f"handler failed during {error['phase']}: {error['type']}: {error['message']}"
        )
    return Invocation(record["result"], record["init_ms"], record["runs"], record["max_memory_mb"])
