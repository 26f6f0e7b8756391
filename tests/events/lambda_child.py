"""Run the handler in a separate interpreter, as Lambda's init + one invoke.

As a script (the child): ``python -I lambda_child.py HANDLER_DIR EVENT_JSON`` imports
``mlayer_handler`` from HANDLER_DIR (the init phase: verify and load the model
named by MLAYER_MODEL_DIR), invokes it on the event and prints one JSON object:
``{"result": ..., "imported": [...]}`` or ``{"error": {"phase", "type", "message"},
"imported": [...]}``; ``imported`` says which of mlayer, click, joblib, sklearn the
handler's process imported. Its stdout (the log sink's lines) is kept apart.

As a module (the tests): ``run_handler(...)`` starts that child and parses its output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WATCHED = ("mlayer", "click", "joblib", "sklearn")


@dataclass
class ChildRun:
    result: Any
    error: dict[str, str] | None
    imported: list[str]
    log: list[str]  # the handler's stdout lines (the function log)


def run_handler(
    handler_dir: Path, model_dir: Path, event: Any, env: dict[str, str] | None = None
) -> ChildRun:
    event_path = model_dir.parent / "event.json"
    event_path.write_text(json.dumps(event))
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MLAYER_MODEL_DIR": str(model_dir),
        **(env or {}),
    }
    completed = subprocess.run(
        [sys.executable, "-I", __file__, str(handler_dir), str(event_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    assert lines, completed.stderr
    record = json.loads(lines[-1])
    return ChildRun(record.get("result"), record.get("error"), record["imported"], lines[:-1])


def _child() -> None:
    handler_dir, event_path = sys.argv[1:3]
    sys.path.insert(0, handler_dir)
    event = json.loads(Path(event_path).read_text())
    record: dict[str, Any] = {}
    phase = "init"
    try:
        import mlayer_handler

        phase = "invoke"
        record["result"] = mlayer_handler.lambda_handler(event, None)
    except Exception as exc:
        record["error"] = {"phase": phase, "type": type(exc).__name__, "message": str(exc)}
    record["imported"] = sorted(name for name in WATCHED if name in sys.modules)
    sys.stdout.flush()
    print(json.dumps(record, default=str))


if __name__ == "__main__":
    _child()
