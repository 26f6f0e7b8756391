"""One deploy or rollback of a function at a time on this machine.

An advisory ``flock`` on a file under the user's cache directory, keyed by the
endpoint, region and function name. It serializes the common race (two
commands started on one machine) even against an endpoint that ignores
RevisionIds; races between machines are caught by the RevisionId and the
executor's read-back instead. The lock is released when the process ends,
however it ends.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mlayer.store import default_root


def lock_path(endpoint: str, region: str, function_name: str, root: Path | None = None) -> Path:
    """The lock file of one function: ``~/.cache/mlayer/locks/<sha256>.lock``."""
    key = hashlib.sha256(f"{endpoint}\n{region}\n{function_name}".encode()).hexdigest()
    return (root or default_root().parent / "locks") / f"{key[:32]}.lock"


@contextmanager
def function_lock(
    endpoint: str,
    region: str,
    function_name: str,
    *,
    on_wait: Callable[[str], None],
    root: Path | None = None,
) -> Iterator[None]:
    """Hold the function's lock, waiting (and saying so) while another holds it."""
    path = lock_path(endpoint, region, function_name, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"waiting for another mlayer deploy of {function_name} on this machine")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
