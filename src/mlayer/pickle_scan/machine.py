"""The stack machine under the walk: the unpickler's stack, MARKs and memo,
and the reading of opcode arguments, within the scan's limits.

It holds inert values only (see ``values``) and counts what it keeps against
``MAX_HELD_BYTES`` and ``MAX_STACK``; what each opcode means is ``walker``'s.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlayer.pickle_scan.errors import ScanError, TooLarge
from mlayer.pickle_scan.joblib_format import Source
from mlayer.pickle_scan.values import UNKNOWN

# What the walk keeps of the pickle's values (an estimate, see StackMachine._hold):
# about as much as loading the non-array part of a large vocabulary takes.
MAX_HELD_BYTES = 1024 * 1024 * 1024
# Values on the stack at once (pickle batches its appends by 1,000; only a huge
# tuple needs more).
MAX_STACK = 1_000_000

STRING_KEPT = 256  # longer strings are never module names or state keys we need


@dataclass
class Found:
    """What the walks of one file found, and what they hold between them."""

    max_held: int
    globals: set[str] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)
    held: int = 0


class StackMachine:
    """``pickle._Unpickler``'s stack, metastack and memo, over ``source``."""

    def __init__(self, source: Source, found: Found) -> None:
        self.source = source
        self.found = found
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.below_mark = 0  # values on the stacks in metastack

    # -- the stacks
    def _hold(self, value: Any, size: int = 64) -> None:
        """Count what the walk keeps (memo entries, container and tuple items),
        roughly in bytes, and never uncount it: an over-estimate."""
        self.found.held += size + (len(value) if isinstance(value, str) else 0)
        if self.found.held > self.found.max_held:
            raise TooLarge(
                f"its pickle holds more than {self.found.max_held:,} bytes of Python objects "
                "(not counting arrays)"
            )

    def _check_room(self) -> None:
        if len(self.stack) + self.below_mark >= MAX_STACK:
            raise TooLarge(f"its pickle stacks more than {MAX_STACK:,} values")

    def push(self, value: Any) -> None:
        self._check_room()
        self.stack.append(value)

    def pop(self) -> Any:
        if not self.stack:
            raise ScanError("its pickle pops an empty stack")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise ScanError("its pickle reads an empty stack")
        return self.stack[-1]

    def mark(self) -> None:
        self._check_room()
        self.below_mark += len(self.stack) + 1
        self.metastack.append(self.stack)
        self.stack = []

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise ScanError("its pickle has no MARK to pop")
        items = self.stack
        self.stack = self.metastack.pop()
        self.below_mark -= len(self.stack) + 1
        return items

    # -- opcode arguments
    def byte(self) -> int:
        return self.source.read(1)[0]

    def number(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        return int(struct.unpack(fmt, self.source.read(size))[0])

    def line(self) -> bytes:
        """A protocol-0 argument: the line without its newline."""
        return self.source.readline()[:-1]

    def text(self, size: int, decode: Callable[[bytes], str]) -> Any:
        if size > STRING_KEPT * 4:  # UTF-8: up to 4 bytes a character
            self.source.skip(size)
            return UNKNOWN
        try:
            text = decode(self.source.read(size))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ScanError(f"its pickle holds a string that does not decode ({exc})") from exc
        return text if len(text) <= STRING_KEPT else UNKNOWN

    def binary(self, size: int) -> Any:
        if size > 64:  # array data, never a dtype's metadata
            self.source.skip(size)
            return UNKNOWN
        return self.source.read(size)

    def long(self, size: int) -> int:
        """A LONG1/LONG4 integer: ``size`` bytes, little-endian, signed."""
        return int.from_bytes(self.source.read(size), "little", signed=True)

    def memo_get(self, index: int) -> None:
        if index not in self.memo:
            raise ScanError("its pickle reads a memo entry it never wrote")
        self.push(self.memo[index])

    def memo_put(self, index: int) -> None:
        if index < 0:
            raise ScanError("its pickle writes a negative memo index")
        self._hold(self.top())
        self.memo[index] = self.top()
