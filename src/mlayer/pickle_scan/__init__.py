"""Read a joblib file's pickles without running them, and judge every global they name.

A pickle runs what it names when it is loaded, so a model file is code. This
package walks a joblib file statically: the top-level pickle, the array bytes
joblib writes after each ``NumpyArrayWrapper`` (skipped by streaming, never held
in memory) and the nested pickle joblib writes for each object-dtype array
(walked like the top level). It records every global named anywhere and the
scikit-learn versions the estimators' state records (``_sklearn_version``).
``untrusted_globals`` then checks each global against an allowlist.

Why a walker of our own over the opcodes (stdlib ``pickletools`` documents them)
and not a scanner from PyPI: picklescan is a denylist (it flags ``os.system``
but lets through what its list has not heard of), and neither picklescan nor
fickling knows joblib's layout, where raw array bytes and whole nested pickles
sit between the opcodes of the top-level pickle. A scanner that does not skip
them exactly either stops at the first array or reads array bytes as opcodes;
both leave the nested pickles, where the hostile object of issue 9 hides,
unread. Skipping them exactly needs the array's shape and dtype, which only an
interpreter of the stack can know.

What runs during the walk: nothing the pickle names. To learn an array's item
size exactly as joblib will, a dtype's arguments and state (plain literals) are
given to numpy's public constructors (``numpy.dtype(...)``), and the result is
used only if it pickles back to exactly that state; ``dtype.__setstate__``, which
crashes on some malformed states, is never called.

The walk is exact only for the files joblib writes. Anything that could make
the loader read the bytes differently from the walk (a wrapper used other than
as joblib writes it, a dtype built another way, frames that straddle array
data, opcodes joblib never needs) is refused rather than guessed at.

Limits: the decompressed stream may not exceed ``MAX_EXPANDED_BYTES`` (Lambda's
largest memory, 10,240 MB: a model that expands past it can never be loaded by
a function, so refusing it loses nothing; array bytes are streamed, so the limit
bounds the scan's time, not its memory), and the pickle values the walk keeps
(memo, stack, small strings) may not exceed ``MAX_HELD_BYTES``.

The modules: ``allowlist`` (which names may appear), ``joblib_format`` (the
decompressed stream, framing, arrays and their dtypes), ``machine`` (stack,
memo, opcode arguments), ``walker`` (what each opcode means), ``values`` (the
inert stand-ins it builds), ``errors`` (the refusals).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from mlayer.pickle_scan.allowlist import is_allowed, untrusted_globals
from mlayer.pickle_scan.errors import ScanError, TooLarge
from mlayer.pickle_scan.joblib_format import MAX_EXPANDED_BYTES, Source, decompressed
from mlayer.pickle_scan.machine import MAX_HELD_BYTES, Found
from mlayer.pickle_scan.walker import Walker

# What the rest of mlayer uses; the modules below are the package's own.
__all__ = [
    "MAX_EXPANDED_BYTES",
    "PickleScan",
    "ScanError",
    "TooLarge",
    "is_allowed",
    "scan_joblib",
    "untrusted_globals",
]


@dataclass(frozen=True)
class PickleScan:
    """Every global a joblib file names (``module.name``) and the scikit-learn
    versions its estimators record."""

    globals: frozenset[str]
    sklearn_versions: frozenset[str]


def scan_joblib(path: Path, max_expanded_bytes: int = MAX_EXPANDED_BYTES) -> PickleScan:
    """Walk the joblib file at ``path`` statically: every pickle in it, nothing run.

    Raises ``ScanError`` (``TooLarge`` for a limit) when the file is not a
    joblib file the walk can read exactly.
    """
    found = Found(max_held=MAX_HELD_BYTES)
    with path.open("rb") as raw, decompressed(raw) as stream:
        try:
            Walker(Source(stream, max_expanded_bytes), found, joblib_layout=True).run()
        except (ValueError, struct.error, OverflowError, EOFError, OSError) as exc:
            # Malformed opcode arguments, or a compressed stream that breaks off.
            raise ScanError(f"its pickle is malformed ({type(exc).__name__}: {exc})") from exc
    return PickleScan(frozenset(found.globals), frozenset(found.versions))
