"""Runs inside the child interpreter of ``mlayer invoke --local``; stdlib only.

Started as ``python -I -S -B _lambda_runtime.py TASK_ROOT OPT EVENTS OUT REPEAT``
so nothing of the host's site-packages is importable: only the function code
(TASK_ROOT), the layers under OPT where Lambda puts them, and boto3 from
``$LAMBDA_RUNTIME_DIR`` as Lambda's runtime provides it. It imports the handler
(Lambda's init phase), invokes it on each event of the EVENTS list, REPEAT
times over, and writes the results and a REPORT-like record as JSON to OUT.
"""

import importlib
import json
import math
import os
import resource
import sys
import time
import traceback


class Context:
    """The parts of Lambda's context object a handler commonly reads."""

    def __init__(self) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = "local-invoke"
        self.invoked_function_arn = (
            f"arn:aws:lambda:local:000000000000:function:{self.function_name}"
        )
        self._deadline = time.monotonic() + float(os.environ.get("MLAYER_TIMEOUT_S", "60"))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def max_memory_mb() -> int:
    return math.ceil(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    task_root, opt, events_path, out_path, repeat = sys.argv[1:6]
    python_dir = os.path.join(opt, "python")
    site = os.path.join(
        python_dir, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages"
    )
    # Lambda's order: the function, the layers, then the runtime's own boto3.
    sys.path[:0] = [task_root, site, python_dir]
    sys.path.append(os.environ["LAMBDA_RUNTIME_DIR"])
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    with open(events_path) as handle:
        events = json.load(handle)

    record: dict[str, object] = {}
    phase = "init"
    try:
        started = time.perf_counter()
        handler = getattr(importlib.import_module(module_name), function_name)
        record["init_ms"] = (time.perf_counter() - started) * 1000
        phase = "invoke"
        runs, results = [], []
        for round_number in range(int(repeat)):
            for event in events:
                started = time.perf_counter()
                result = handler(event, Context())
                duration = (time.perf_counter() - started) * 1000
                # Lambda reports the sandbox's peak so far, which only grows.
                runs.append({"duration_ms": round(duration, 2), "max_memory_mb": max_memory_mb()})
                if round_number == 0:
                    results.append(result)
        record.update(results=results, runs=runs)
    except Exception as exc:  # reported to the parent, which prints one line
        record["error"] = {
            "phase": phase,
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": traceback.format_exc(),
        }
    with open(out_path, "w") as handle:
        json.dump(record, handle, default=str)


if __name__ == "__main__":
    main()
