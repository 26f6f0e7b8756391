"""SnapStart: what copies restored from one snapshot must not share. Stdlib only.

With SnapStart (``deploy --snapstart``, python3.12+), Lambda runs the init
phase once per published version, snapshots the memory, and starts each
environment from a copy of it: the model is loaded already. What init made
that must be unique per environment would be shared by every copy: the sink's
boto3 client (its connections, and credentials that expire) and the state of
the random generators. The Python runtime provides ``snapshot_restore_py``,
whose ``register_after_restore`` hooks run after each restore; without that
module (no SnapStart, ``invoke --local``) nothing is registered and the
handler behaves as it always has.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable


def after_restore(hook: Callable[[], None]) -> bool:
    """Run ``hook`` after each restore from a snapshot; False when not under SnapStart."""
    try:
        import snapshot_restore_py  # Lambda's Python runtime provides it under SnapStart
    except ImportError:
        return False
    snapshot_restore_py.register_after_restore(hook)
    return True


def reseed() -> None:
    """New seeds from the OS for the generators a copy would otherwise share."""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:  # the legacy global generator, which some estimators use
        numpy.random.seed()
