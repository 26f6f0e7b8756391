"""The inert values the walk builds in place of the objects a pickle describes.

A global becomes a ``Global`` (its name, never imported), a call a ``Obj`` (the
callee and its arguments, never run), a list or dict a ``ListValue`` or
``DictValue`` holding at most what the walk may need to read back (a wrapper's
header, a dtype's state). Here too are the two rules about where joblib's
wrapper and numpy's dtype may stand (``check_not_wrapper``, ``holds_dtype``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlayer.pickle_scan.errors import ScanError

WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
DTYPE = ("numpy", "dtype")


class Unknown:
    """A value the walk does not keep (long strings, bytes, numbers it never needs)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()
ARRAY = Unknown()  # an array joblib read; its contents never matter here


@dataclass(frozen=True)
class Global:
    module: str
    name: str


@dataclass(eq=False)
class Obj:
    """What calling or ``__new__``-ing a global produced, and the states built into it."""

    callee: Global
    args: tuple[Any, ...]
    called: bool  # cls(*args) (``__init__`` ran), rather than cls.__new__(cls, ...)
    # Its arguments hold a dtype, and a call may return an argument itself
    # (``numpy.object_(x)`` is ``x``): a BUILD into it may alter that dtype.
    may_be_dtype: bool = False
    states: list[Any] = field(default_factory=list)

    @property
    def is_wrapper(self) -> bool:
        return (self.callee.module, self.callee.name) == WRAPPER

    @property
    def is_dtype(self) -> bool:
        return (self.callee.module, self.callee.name) == DTYPE


@dataclass(eq=False)
class ListValue:
    items: list[Any] = field(default_factory=list)
    exact: bool = True


@dataclass(eq=False)
class DictValue:
    items: dict[Any, Any] = field(default_factory=dict)
    exact: bool = True


def check_not_wrapper(values: Iterable[Any]) -> None:
    """joblib's wrapper, its class and the dtype class are only ever called (and
    built) where they stand. Put anywhere else, a call could hand the loader a
    wrapper the walk does not see, or one of numpy's shared dtypes, and the loader
    would read as array data bytes the walk took for opcodes, or the reverse."""
    for value in values:
        if (isinstance(value, Obj) and value.is_wrapper) or value == Global(*WRAPPER):
            raise ScanError("it uses joblib's NumpyArrayWrapper other than as joblib writes it")
        if value == Global(*DTYPE):
            raise ScanError("it uses numpy.dtype other than as numpy pickles a dtype")


def holds_dtype(value: Any, budget: int = 10_000) -> bool:
    """Whether ``value`` is or holds (in tuples, lists, dicts) a dtype stand-in;
    True too when it holds more than ``budget`` values, which are not looked at."""
    pending = [value]
    while pending:
        budget -= 1
        if budget < 0:
            return True
        item = pending.pop()
        if isinstance(item, Obj):
            if item.is_dtype or item.may_be_dtype:
                return True
        elif isinstance(item, tuple):
            pending.extend(item)
        elif isinstance(item, ListValue):
            pending.extend(item.items)
        elif isinstance(item, DictValue):
            pending.extend(item.items.values())
    return False


def is_pair(state: Any) -> bool:
    """A BUILD state of the form ``(dict_state, slot_state)``."""
    return isinstance(state, tuple) and len(state) == 2
