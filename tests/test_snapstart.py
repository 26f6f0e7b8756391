"""The handler under SnapStart, in a separate interpreter on a real model layer.

Lambda's Python runtime provides ``snapshot_restore_py`` only under SnapStart;
here a stand-in of it (``register_after_restore`` records the hooks) is put on
the path, and the test runs the hooks as a restore would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from test_handler_lifecycle import model_layer

STAND_IN = """
hooks = []

def register_after_restore(func, *args, **kwargs):
    hooks.append((func, args, kwargs))
"""

CHILD = """
import json, random, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import mlayer_handler, snapshot_restore_py
sink_before = mlayer_handler.SINK
random.seed(7); before = random.random(); random.seed(7)
for func, args, kwargs in snapshot_restore_py.hooks:  # as Lambda, after a restore
    func(*args, **kwargs)
result = mlayer_handler.lambda_handler({"texts": ["great product"]}, None)
print(json.dumps({
    "hooks": len(snapshot_restore_py.hooks),
    "new_sink": mlayer_handler.SINK is not sink_before,
    "reseeded": random.random() != before,
    "predicted": len(result["predictions"]),
}))
"""

WITHOUT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import mlayer_handler
print(json.dumps({"restore_module": "snapshot_restore_py" in sys.modules}))
"""


def child(code: str, model_dir: Path, *paths: Path) -> dict:  # type: ignore[type-arg]
    completed = subprocess.run(
        [sys.executable, "-I", "-c", code, *map(str, paths)],
        env={"MLAYER_MODEL_DIR": str(model_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_under_snapstart_the_handler_registers_a_hook_that_makes_a_new_sink_and_reseeds(
    tmp_path: Path, model_v1: list[Path]
) -> None:
    model_dir = model_layer(model_v1, tmp_path)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / "snapshot_restore_py.py").write_text(STAND_IN)
    seen = child(CHILD, model_dir, ROOT / "handler", runtime)
    assert seen == {"hooks": 1, "new_sink": True, "reseeded": True, "predicted": 1}


def test_without_snapstart_nothing_is_registered(tmp_path: Path, model_v1: list[Path]) -> None:
    model_dir = model_layer(model_v1, tmp_path)
    assert child(WITHOUT, model_dir, ROOT / "handler") == {"restore_module": False}
