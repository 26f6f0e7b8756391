"""Run in a fresh, isolated interpreter with only a layer on sys.path (stdlib only).

Usage: python -I -S -B _probe.py SPEC.json

SPEC: {"site", "imports", "models", "event", "text_field", "text_is_json",
"trace", "out"}. Imports every name in ``imports``; with ``models``, loads them
with joblib in pipeline order and predicts the sample event's texts. With
``trace``, an audit hook records every file opened; the modules loaded and the
shared libraries mapped are read at the end. The result goes to ``out`` as JSON.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import traceback
from typing import Any


def texts_of(event: Any, field: str, is_json: bool) -> list[Any]:
    """The texts of a sample event: a Kinesis event (as the handler reads it) or a list."""
    if isinstance(event, list):
        return event
    texts = []
    for record in event.get("Records", []):
        try:
            payload = json.loads(base64.b64decode(record["kinesis"]["data"]))
            text = payload[field]
            texts.append(json.loads(text) if is_json else text)
        except (KeyError, TypeError, ValueError):
            continue  # the handler reports such a record as a failure; nothing to predict
    return texts


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    site = os.path.realpath(spec["site"])
    opened = set()
    if spec.get("trace"):

        def hook(event: str, args: tuple[Any, ...]) -> None:
            if event == "open" and isinstance(args[0], str):
                opened.add(os.path.realpath(args[0]) if not os.path.isabs(args[0]) else args[0])
            elif event == "ctypes.dlopen" and isinstance(args[0], str):
                opened.add(args[0])

        sys.addaudithook(hook)
    sys.path.insert(0, site)
    result: dict[str, Any] = {"failed": {}, "predictions": None, "error": None}
    for name in spec.get("imports", []):
        try:
            __import__(name)
        except BaseException as exc:  # any failure, SystemExit included, is a broken package
            result["failed"][name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if spec.get("models") and not result["failed"]:
        try:
            import joblib

            steps = [joblib.load(path) for path in spec["models"]]
            with open(spec["event"]) as handle:
                features = texts_of(json.load(handle), spec["text_field"], spec["text_is_json"])
            for step in steps[:-1]:
                features = step.transform(features)
            predictions = steps[-1].predict(features)
            result["predictions"] = (
                predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
            )
        except BaseException as exc:
            last = traceback.extract_tb(exc.__traceback__)[-1]
            result["error"] = f"{type(exc).__name__}: {exc} (at {last.filename}:{last.lineno})"
    if spec.get("trace"):
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if path:
                opened.add(path)
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    opened.add(parts[5].strip())
        inside = set()
        for path in opened:
            real = os.path.realpath(path)
            if real.startswith(site + os.sep) and os.path.isfile(real):
                inside.add(os.path.relpath(real, site))
        result["files"] = sorted(inside)
        result["modules"] = sorted(
            name
            for name, module in sys.modules.items()
            if os.path.realpath(getattr(module, "__file__", None) or "/").startswith(site + os.sep)
            or any(
                os.path.realpath(p).startswith(site + os.sep)
                for p in getattr(module, "__path__", None) or []
            )
        )
    with open(spec["out"], "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
