"""Read a joblib file's pickles without running them, and judge every global they name.

A pickle runs what it names when it is loaded, so a model file is code. This
module walks a joblib file statically: the top-level pickle, the array bytes
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
"""

from __future__ import annotations

import _compat_pickle
import codecs
import importlib
import pickle
import struct
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# Lambda's largest function memory is 10,240 MB: a model that expands beyond
# it cannot be loaded by any function.
MAX_EXPANDED_BYTES = 10_240 * 1024 * 1024
# What the walk keeps of the pickle's values (an estimate, see _Walker._hold):
# about as much as loading the non-array part of a large vocabulary takes.
MAX_HELD_BYTES = 1024 * 1024 * 1024
# Values on the stack at once (pickle batches its appends by 1,000; only a huge
# tuple needs more).
MAX_STACK = 1_000_000

_STRING_KEPT = 256  # longer strings are never module names or state keys we need
_ITEMS_KEPT = 4096  # per list or dict: more is never a state we need to read
_LINE_LIMIT = 1 << 20  # a text opcode's line (protocol 0); joblib never writes long ones
_READ_CHUNK = 1 << 20

WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
DTYPE = ("numpy", "dtype")

# --- the allowlist ---------------------------------------------------------------

# Packages whose classes a model may name: installed, trusted code the deps layer
# ships. Functions in them can be gadgets, so only classes are allowed by package.
ALLOWED_PACKAGES = ("sklearn", "numpy", "scipy")
# Builtins a pickle may call: types that build plain data. Not getattr, eval, exec,
# compile, open, __import__, type or anything else that reaches further.
SAFE_BUILTINS = (
    *("set", "frozenset", "slice", "complex", "bytearray", "range", "object"),
    *("int", "float", "str", "bytes", "bool", "list", "dict", "tuple"),
)
# Functions (and joblib's own wrapper) that pickles of scikit-learn models need.
ALLOWED_NAMES = frozenset(
    {
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "copyreg._reconstructor",
        "collections.OrderedDict",
        "collections.defaultdict",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.ma.core._mareconstruct",
    }
    | {f"builtins.{name}" for name in SAFE_BUILTINS}
)
# Parts of the allowed packages that read or write files, load native code or
# run on import: never imported by the scan, never allowed.
EXCLUDED_MODULES = (
    "numpy.lib._datasource",
    "numpy.lib.npyio",
    "numpy.lib._npyio_impl",
    "numpy.lib.format",
    "numpy.lib._format_impl",
    "numpy._core.memmap",
    "numpy.core.memmap",
    "numpy.ctypeslib",
    "numpy.testing",
    "numpy.f2py",
    "numpy.distutils",
    "numpy._pyinstaller",
    "scipy.io",
    "scipy._lib",
    "scipy.datasets",
    "sklearn.datasets",
    "sklearn.utils._testing",
    "sklearn._build_utils",
)
_EXCLUDED_PARTS = frozenset({"__main__", "tests", "testing", "conftest", "setup"})


class ScanError(Exception):
    """The file cannot be read statically (the message says why); nothing was run."""


class TooLarge(ScanError):
    """The file expands past a limit of the scan."""


@dataclass(frozen=True)
class PickleScan:
    """Every global a joblib file names (``module.name``) and the scikit-learn
    versions its estimators record."""

    globals: frozenset[str]
    sklearn_versions: frozenset[str]


def untrusted_globals(names: Iterable[str], trusted: Iterable[str] = ()) -> list[str]:
    """The names (``module.name``) that are neither allowed nor in ``trusted``, sorted."""
    vouched = set(trusted)
    return sorted(name for name in set(names) if name not in vouched and not is_allowed(name))


def is_allowed(name: str) -> bool:
    """True for a name on the explicit list, a class defined under an allowed
    package, or a numpy ufunc; imports only modules under the allowed packages."""
    if name in ALLOWED_NAMES:
        return True
    module, _, attr = name.rpartition(".")
    if not module or not attr.isidentifier() or not _importable_module(module):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy.core's deprecation shims
            obj = getattr(importlib.import_module(module), attr, None)
    except Exception:  # a module that does not import here cannot be checked
        return False
    if _is_numpy_ufunc(obj, module):
        return True
    if attr.startswith("__pyx_unpickle_"):
        # Cython's helper for a Cython class: builds that class, nothing else.
        obj = getattr(sys.modules[module], attr.removeprefix("__pyx_unpickle_"), None)
    if not isinstance(obj, type) or not _importable_module(str(obj.__module__)):
        return False
    return not _is_excluded_class(obj)


def _importable_module(module: str) -> bool:
    parts = module.split(".")
    if parts[0] not in ALLOWED_PACKAGES or not all(part.isidentifier() for part in parts):
        return False
    if _EXCLUDED_PARTS & set(parts):
        return False
    return not any(module == bad or module.startswith(bad + ".") for bad in EXCLUDED_MODULES)


def _is_numpy_ufunc(obj: object, module: str) -> bool:
    import numpy

    return module == "numpy" and isinstance(obj, numpy.ufunc)


def _is_excluded_class(cls: type) -> bool:
    import numpy
    from joblib.numpy_pickle import NumpyArrayWrapper

    # memmap opens files; a dtype subclass's constructor returns numpy's shared
    # dtype instances, which a pickle could then alter; the wrapper goes by one name.
    return (
        issubclass(cls, (numpy.memmap, NumpyArrayWrapper))
        or (issubclass(cls, numpy.dtype) and cls is not numpy.dtype)
    )


# --- reading the file --------------------------------------------------------------


def scan_joblib(path: Path, max_expanded_bytes: int = MAX_EXPANDED_BYTES) -> PickleScan:
    """Walk the joblib file at ``path`` statically: every pickle in it, nothing run.

    Raises ``ScanError`` (``TooLarge`` for a limit) when the file is not a
    joblib file the walk can read exactly.
    """
    found = _Found(max_held=MAX_HELD_BYTES)
    with path.open("rb") as raw, _decompressed(raw) as stream:
        try:
            _Walker(_Source(stream, max_expanded_bytes), found, joblib_layout=True).run()
        except (ValueError, struct.error, OverflowError, EOFError, OSError) as exc:
            # Malformed opcode arguments, or a compressed stream that breaks off.
            raise ScanError(f"its pickle is malformed ({type(exc).__name__}: {exc})") from exc
    return PickleScan(frozenset(found.globals), frozenset(found.versions))


@contextmanager
def _decompressed(raw: IO[bytes]) -> Iterator[IO[bytes]]:
    """The file's bytes as ``joblib.load`` reads them: joblib picks the
    decompressor by the file's magic number, so the same code is used here."""
    try:
        from joblib import numpy_pickle_utils
    except ImportError as exc:  # pragma: no cover - joblib comes with the model extra
        raise ScanError("reading model files needs joblib: pip install 'mlayer[model]'") from exc
    try:
        with (
            warnings.catch_warnings(),
            numpy_pickle_utils._validate_fileobject_and_memmap(raw, str(raw.name)) as (stream, _),
        ):
            warnings.simplefilter("ignore")
            if isinstance(stream, str):  # joblib < 0.10's format: arrays in side files
                raise ScanError("it was written by joblib < 0.10; save it again with joblib.dump")
            yield stream
    except (OSError, ValueError, EOFError) as exc:
        raise ScanError(f"it cannot be decompressed ({exc})") from exc


class _Source:
    """The decompressed stream, with pickle framing and the expanded-size limit.

    Frames are followed as ``pickle._Unframer`` does; any read that would make
    the C and Python unpicklers (or joblib's array reads) see different bytes is
    refused.
    """

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.consumed = 0
        self.frame_left = 0

    def _take(self, size: int) -> None:
        if self.consumed + size > self.limit:
            raise TooLarge(
                f"it expands to more than {self.limit:,} bytes (the limit: Lambda's largest "
                "memory), and no function could load it"
            )
        self.consumed += size

    def read_raw(self, size: int) -> bytes:
        self._take(size)
        data = self.stream.read(size)
        if len(data) != size:
            raise ScanError("it ends in the middle of its pickle")
        return data

    def skip_raw(self, size: int) -> None:
        """Consume ``size`` bytes without keeping them (array data)."""
        self._take(size)
        left = size
        while left:
            chunk = self.stream.read(min(left, _READ_CHUNK))
            if not chunk:
                raise ScanError("it ends in the middle of an array's data")
            left -= len(chunk)

    def _framed(self, size: int) -> None:
        if self.frame_left:
            if size > self.frame_left:
                raise ScanError("an opcode crosses the end of its pickle frame")
            self.frame_left -= size

    def read(self, size: int) -> bytes:
        self._framed(size)
        return self.read_raw(size)

    def skip(self, size: int) -> None:
        self._framed(size)
        self.skip_raw(size)

    def readline(self) -> bytes:
        line = bytearray()
        while not line.endswith(b"\n"):
            if len(line) > _LINE_LIMIT:
                raise ScanError("it holds a text opcode longer than 1 MiB")
            line += self.read(1)
        return bytes(line)

    def start_frame(self, size: int) -> None:
        if self.frame_left:
            raise ScanError("a pickle frame starts before the previous one ends")
        self.frame_left = size

    def require_frame_end(self, what: str) -> None:
        if self.frame_left:
            raise ScanError(f"{what} inside a pickle frame")


# --- the symbolic unpickler ---------------------------------------------------------


class _Unknown:
    """A value the walk does not keep (long strings, bytes, numbers it never needs)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()
ARRAY = _Unknown()  # an array joblib read; its contents never matter here


@dataclass(frozen=True)
class _Global:
    module: str
    name: str


@dataclass(eq=False)
class _Obj:
    """What calling or ``__new__``-ing a global produced, and the states built into it."""

    callee: _Global
    args: tuple[Any, ...]
    called: bool  # cls(*args) (``__init__`` ran), rather than cls.__new__(cls, ...)
    # Its arguments hold a dtype, and a call may return an argument itself
    # (``numpy.object_(x)`` is ``x``): a BUILD into it may alter that dtype.
    may_be_dtype: bool = False
    states: list[Any] = field(default_factory=list)

    @property
    def is_wrapper(self) -> bool:
        return (self.callee.module, self.callee.name) == WRAPPER


@dataclass(eq=False)
class _List:
    items: list[Any] = field(default_factory=list)
    exact: bool = True


@dataclass(eq=False)
class _Dict:
    items: dict[Any, Any] = field(default_factory=dict)
    exact: bool = True


@dataclass
class _Found:
    max_held: int
    globals: set[str] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)
    held: int = 0


def _check_not_wrapper(values: Iterable[Any]) -> None:
    """joblib's wrapper, its class and the dtype class are only ever called (and
    built) where they stand. Put anywhere else, a call could hand the loader a
    wrapper the walk does not see, or one of numpy's shared dtypes, and the loader
    would read as array data bytes the walk took for opcodes, or the reverse."""
    for value in values:
        if (isinstance(value, _Obj) and value.is_wrapper) or value == _Global(*WRAPPER):
            raise ScanError("it uses joblib's NumpyArrayWrapper other than as joblib writes it")
        if value == _Global(*DTYPE):
            raise ScanError("it uses numpy.dtype other than as numpy pickles a dtype")


def _holds_dtype(value: Any, budget: int = 10_000) -> bool:
    """Whether ``value`` is or holds (in tuples, lists, dicts) a dtype stand-in;
    True too when it holds more than ``budget`` values, which are not looked at."""
    pending = [value]
    while pending:
        budget -= 1
        if budget < 0:
            return True
        item = pending.pop()
        if isinstance(item, _Obj):
            if (item.callee.module, item.callee.name) == DTYPE or item.may_be_dtype:
                return True
        elif isinstance(item, tuple):
            pending.extend(item)
        elif isinstance(item, _List):
            pending.extend(item.items)
        elif isinstance(item, _Dict):
            pending.extend(item.items.values())
    return False


class _Walker:
    """Follows one pickle's opcodes with ``pickle._Unpickler``'s stack semantics,
    building inert stand-ins (``_Obj``, ``_List``, ``_Dict``) instead of objects.

    ``joblib_layout``: the top-level pickle of a joblib file, where building a
    ``NumpyArrayWrapper`` reads the array's bytes (or a nested pickle) from the
    stream, as ``joblib.numpy_pickle.NumpyUnpickler.load_build`` does.
    """

    def __init__(self, source: _Source, found: _Found, *, joblib_layout: bool) -> None:
        self.source = source
        self.found = found
        self.joblib_layout = joblib_layout
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.proto = 0
        self.below_mark = 0  # values on the stacks in metastack

    # -- helpers
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

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise ScanError("its pickle has no MARK to pop")
        items = self.stack
        self.stack = self.metastack.pop()
        self.below_mark -= len(self.stack) + 1
        return items

    def _int(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        return int(struct.unpack(fmt, self.source.read(size))[0])

    def _text(self, size: int, decode: Any) -> Any:
        if size > _STRING_KEPT * 4:  # UTF-8: up to 4 bytes a character
            self.source.skip(size)
            return UNKNOWN
        try:
            text = decode(self.source.read(size))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ScanError(f"its pickle holds a string that does not decode ({exc})") from exc
        return text if len(text) <= _STRING_KEPT else UNKNOWN

    def _binary(self, size: int) -> Any:
        if size > 64:  # array data, never a dtype's metadata
            self.source.skip(size)
            return UNKNOWN
        return self.source.read(size)

    def find_class(self, module: Any, name: Any) -> _Global:
        if type(module) is not str or type(name) is not str:
            raise ScanError("its pickle names a global it only builds while loading")
        if self.proto < 3:  # pickle maps Python 2 names, as the loader will
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        if not self.joblib_layout and module.split(".")[0] == "joblib":
            # An object array is loaded by plain pickle: a wrapper there would be
            # an ordinary object the top-level pickle could later hand to joblib.
            raise ScanError("an object array in it names joblib's own classes")
        self.found.globals.add(f"{module}.{name}")
        return _Global(module, name)

    def make(self, callee: Any, args: Any, *, called: bool) -> _Obj:
        if not isinstance(callee, _Global):
            raise ScanError("its pickle calls something other than a named global")
        if not isinstance(args, tuple):
            raise ScanError("its pickle calls a global with arguments that are not a tuple")
        _check_not_wrapper(args)
        if (callee.module, callee.name) == DTYPE and not (
            called
            and len(args) == 3
            and isinstance(args[0], str)
            and isinstance(args[1], bool)
            and args[2] is True
        ):
            # numpy.dtype(str, bool, True) is how numpy pickles a dtype: a fresh
            # copy. Any other call can return numpy's shared dtype instances,
            # which a later BUILD would alter for every array read after it.
            raise ScanError("it builds a numpy dtype other than as numpy pickles one")
        return _Obj(callee, args, called, may_be_dtype=_holds_dtype(args))

    # -- the loop
    def run(self) -> Any:
        while True:
            code = self.source.read(1)
            handler = _DISPATCH.get(code)
            if handler is None:
                raise ScanError(f"its pickle has an opcode mlayer does not read ({code!r})")
            if code == b".":
                self.source.require_frame_end("the pickle ends")
                return self.pop()
            handler(self)

    # -- opcodes (names as in pickle.py)
    def load_proto(self) -> None:
        self.proto = self.source.read(1)[0]
        if self.proto > 5:
            raise ScanError(f"its pickle uses protocol {self.proto}")

    def load_frame(self) -> None:
        size = self._int("<Q")
        self.source.start_frame(size)

    def load_mark(self) -> None:
        self._check_room()
        self.below_mark += len(self.stack) + 1
        self.metastack.append(self.stack)
        self.stack = []

    def load_pop(self) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark()

    def load_pop_mark(self) -> None:
        self.pop_mark()

    def load_dup(self) -> None:
        self.push(self.top())

    def load_none(self) -> None:
        self.push(None)

    def load_true(self) -> None:
        self.push(True)

    def load_false(self) -> None:
        self.push(False)

    def load_int(self) -> None:
        data = self.source.readline()[:-1]
        try:
            value: Any = {b"00": False, b"01": True}.get(data)
            self.push(int(data, 0) if value is None else value)
        except ValueError as exc:
            raise ScanError("its pickle holds an INT that is not a number") from exc

    def load_long(self) -> None:
        data = self.source.readline()[:-1]
        try:
            self.push(int(data[:-1] if data.endswith(b"L") else data, 0))
        except ValueError as exc:
            raise ScanError("its pickle holds a LONG that is not a number") from exc

    def load_binint(self) -> None:
        self.push(self._int("<i"))

    def load_binint1(self) -> None:
        self.push(self.source.read(1)[0])

    def load_binint2(self) -> None:
        self.push(self._int("<H"))

    def load_long1(self) -> None:
        size = self.source.read(1)[0]
        self.push(int.from_bytes(self.source.read(size), "little", signed=True))

    def load_long4(self) -> None:
        size = self._int("<i")
        if size < 0:
            raise ScanError("its pickle holds a LONG4 of negative size")
        if size > 64:  # far past any shape or size
            self.source.skip(size)
            self.push(UNKNOWN)
        else:
            self.push(int.from_bytes(self.source.read(size), "little", signed=True))

    def load_float(self) -> None:
        try:
            self.push(float(self.source.readline()[:-1]))
        except ValueError as exc:
            raise ScanError("its pickle holds a FLOAT that is not a number") from exc

    def load_binfloat(self) -> None:
        self.push(struct.unpack(">d", self.source.read(8))[0])

    def load_string(self) -> None:
        data = self.source.readline()[:-1]
        if len(data) < 2 or data[0] != data[-1] or data[0] not in b"\"'":
            raise ScanError("its pickle holds a STRING without quotes")
        self.push(self._decode_bytes_string(codecs.escape_decode(data[1:-1])[0]))

    def _decode_bytes_string(self, data: bytes) -> Any:
        # joblib's unpickler decodes Python 2 strings as ASCII.
        try:
            return data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ScanError("its pickle holds a Python 2 string that is not ASCII") from exc

    def load_binstring(self) -> None:
        size = self._int("<i")
        if size < 0:
            raise ScanError("its pickle holds a BINSTRING of negative size")
        self.push(self._text(size, lambda b: self._decode_bytes_string(b)))

    def load_short_binstring(self) -> None:
        self.push(self._text(self.source.read(1)[0], lambda b: self._decode_bytes_string(b)))

    def load_unicode(self) -> None:
        text = self.source.readline()[:-1].decode("raw-unicode-escape")
        self.push(text if len(text) <= _STRING_KEPT else UNKNOWN)

    def load_binunicode(self) -> None:
        self.push(self._text(self._int("<I"), _utf8))

    def load_binunicode8(self) -> None:
        self.push(self._text(self._int("<Q"), _utf8))

    def load_short_binunicode(self) -> None:
        self.push(self._text(self.source.read(1)[0], _utf8))

    def load_binbytes(self) -> None:
        self.push(self._binary(self._int("<I")))

    def load_short_binbytes(self) -> None:
        self.push(self._binary(self.source.read(1)[0]))

    def load_binbytes8(self) -> None:
        self.push(self._binary(self._int("<Q")))

    def load_bytearray8(self) -> None:
        self.push(self._binary(self._int("<Q")))

    def load_readonly_buffer(self) -> None:
        self.top()

    def load_tuple(self) -> None:
        items = self.pop_mark()
        _check_not_wrapper(items)
        self._hold(None, 8 * len(items))
        self.push(tuple(items))

    def load_empty_tuple(self) -> None:
        self.push(())

    def _tuple_of(self, count: int) -> None:
        if len(self.stack) < count:
            raise ScanError("its pickle builds a tuple from an empty stack")
        items = self.stack[-count:]
        del self.stack[-count:]
        _check_not_wrapper(items)
        self.push(tuple(items))

    def load_tuple1(self) -> None:
        self._tuple_of(1)

    def load_tuple2(self) -> None:
        self._tuple_of(2)

    def load_tuple3(self) -> None:
        self._tuple_of(3)

    def load_empty_list(self) -> None:
        self.push(_List())

    def load_empty_dict(self) -> None:
        self.push(_Dict())

    def load_empty_set(self) -> None:
        self.push(_List())  # a set's members never matter here; kept like a list's

    def load_frozenset(self) -> None:
        items = self.pop_mark()
        _check_not_wrapper(items)
        self.push(UNKNOWN)

    def load_list(self) -> None:
        target = _List()
        self._extend(target, self.pop_mark())
        self.push(target)

    def load_dict(self) -> None:
        items = self.pop_mark()
        target = _Dict()
        self._set_items(target, items)
        self.push(target)

    def _extend(self, target: Any, items: list[Any]) -> None:
        _check_not_wrapper(items)
        if not isinstance(target, _List):
            return  # appended to an object: its contents never matter here
        for item in items:
            if len(target.items) >= _ITEMS_KEPT:
                target.exact = False
                return
            self._hold(item)
            target.items.append(item)

    def _set_items(self, target: Any, items: list[Any]) -> None:
        if len(items) % 2:
            raise ScanError("its pickle sets a dict item without a value")
        _check_not_wrapper(items)
        if not isinstance(target, _Dict):
            return
        for key, value in zip(items[::2], items[1::2], strict=True):
            if len(target.items) >= _ITEMS_KEPT or not isinstance(key, str | int | float):
                target.exact = False
                continue
            self._hold(key)
            target.items[key] = value

    def load_append(self) -> None:
        value = self.pop()
        self._extend(self.top(), [value])

    def load_appends(self) -> None:
        items = self.pop_mark()
        self._extend(self.top(), items)

    def load_additems(self) -> None:
        items = self.pop_mark()
        self._extend(self.top(), items)

    def load_setitem(self) -> None:
        value = self.pop()
        key = self.pop()
        self._set_items(self.top(), [key, value])

    def load_setitems(self) -> None:
        items = self.pop_mark()
        self._set_items(self.top(), items)

    def load_global(self) -> None:
        module = self.source.readline()[:-1].decode("utf-8")
        name = self.source.readline()[:-1].decode("utf-8")
        self.push(self.find_class(module, name))

    def load_stack_global(self) -> None:
        name = self.pop()
        module = self.pop()
        self.push(self.find_class(module, name))

    def load_inst(self) -> None:
        module = self.source.readline()[:-1].decode("ascii")
        name = self.source.readline()[:-1].decode("ascii")
        callee = self.find_class(module, name)
        self.push(self.make(callee, tuple(self.pop_mark()), called=True))

    def load_obj(self) -> None:
        args = self.pop_mark()
        if not args:
            raise ScanError("its pickle has an OBJ without a class")
        self.push(self.make(args[0], tuple(args[1:]), called=True))

    def load_newobj(self) -> None:
        args = self.pop()
        cls = self.pop()
        self.push(self.make(cls, args, called=False))

    def load_newobj_ex(self) -> None:
        kwargs = self.pop()
        args = self.pop()
        cls = self.pop()
        _check_not_wrapper([kwargs])
        if isinstance(kwargs, _Dict):
            _check_not_wrapper(kwargs.items.values())
        self.push(self.make(cls, args, called=False))

    def load_reduce(self) -> None:
        args = self.pop()
        callee = self.pop()
        self.push(self.make(callee, args, called=True))

    def _memo_get(self, index: int) -> None:
        if index not in self.memo:
            raise ScanError("its pickle reads a memo entry it never wrote")
        self.push(self.memo[index])

    def _memo_put(self, index: int) -> None:
        if index < 0:
            raise ScanError("its pickle writes a negative memo index")
        self._hold(self.top())
        self.memo[index] = self.top()

    def load_get(self) -> None:
        self._memo_get(int(self.source.readline()[:-1]))

    def load_binget(self) -> None:
        self._memo_get(self.source.read(1)[0])

    def load_long_binget(self) -> None:
        self._memo_get(self._int("<I"))

    def load_put(self) -> None:
        self._memo_put(int(self.source.readline()[:-1]))

    def load_binput(self) -> None:
        self._memo_put(self.source.read(1)[0])

    def load_long_binput(self) -> None:
        self._memo_put(self._int("<I"))

    def load_memoize(self) -> None:
        self._memo_put(len(self.memo))

    def load_build(self) -> None:
        state = self.pop()
        inst = self.top()
        _check_not_wrapper([state])
        dict_state, slot_state = state if _is_pair(state) else (state, None)
        for part in (dict_state, slot_state):
            if isinstance(part, _Dict):
                _check_not_wrapper(part.items.values())
                version = part.items.get("_sklearn_version")
                if isinstance(version, str):
                    self.found.versions.add(version)
        if isinstance(inst, _Obj):
            if inst.may_be_dtype:
                raise ScanError("it builds state into what a call returned from a numpy dtype")
            inst.states.append(state)
            if inst.is_wrapper and self.joblib_layout:
                self.stack[-1] = self._read_array(inst)

    # -- joblib's arrays
    def _read_array(self, wrapper: _Obj) -> Any:
        """Consume what ``NumpyArrayWrapper.read_array`` reads after this BUILD."""
        attrs = _wrapper_attributes(wrapper)
        shape = attrs.get("shape")
        if not isinstance(shape, tuple) or not all(
            type(n) is int and n >= 0 for n in shape
        ):
            raise ScanError("it has an array whose shape mlayer cannot read")
        count = 1
        for size in shape:
            count *= size
        if count >= 2**63:
            raise ScanError("it has an array whose shape overflows")
        dtype = _materialize_dtype(attrs.get("dtype"))
        self.source.require_frame_end("an array's data starts")
        if dtype.hasobject:
            # joblib hands the stream to a plain pickle.load: a whole pickle of its own.
            _Walker(self.source, self.found, joblib_layout=False).run()
            return ARRAY
        alignment = attrs.get("numpy_array_alignment_bytes")
        if alignment is UNKNOWN or not (alignment is None or type(alignment) is int):
            raise ScanError("it has an array whose alignment mlayer cannot read")
        if alignment is not None:
            padding = self.source.read_raw(1)[0]
            self.source.skip_raw(padding)
        if dtype.itemsize == 0:
            raise ScanError("it has an array of zero-size items")
        self.source.skip_raw(count * dtype.itemsize)
        return ARRAY


_WRAPPER_INIT = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")


def _wrapper_attributes(wrapper: _Obj) -> dict[str, Any]:
    """The wrapper's ``__dict__`` as the loader will have it at this BUILD."""
    attrs: dict[str, Any] = {}
    if wrapper.called:  # NumpyArrayWrapper(*args): __init__ sets every attribute
        if not 4 <= len(wrapper.args) <= 6:
            raise ScanError("it calls NumpyArrayWrapper with the wrong arguments")
        attrs.update({"allow_mmap": False, "numpy_array_alignment_bytes": 16})
        attrs.update(zip(_WRAPPER_INIT, wrapper.args, strict=False))
    for state in wrapper.states:
        dict_state, slot_state = state if _is_pair(state) else (state, None)
        for part in (dict_state, slot_state):
            if part is None or part == () or part is False:
                continue
            if not isinstance(part, _Dict) or not part.exact:
                raise ScanError("it has an array whose header mlayer cannot read")
            attrs.update(part.items)
    return attrs


def _is_pair(state: Any) -> bool:
    return isinstance(state, tuple) and len(state) == 2


def _materialize_dtype(value: Any, depth: int = 0) -> Any:
    """The ``numpy.dtype`` the loader will build from ``value``, built here without
    ``dtype.__setstate__`` (numpy crashes on some malformed states): from numpy's
    public constructors, then accepted only if it pickles to exactly the
    arguments and state the file holds, so the loader's dtype is the same one."""
    import numpy

    if not isinstance(value, _Obj) or (value.callee.module, value.callee.name) != DTYPE:
        raise ScanError("it has an array whose dtype mlayer cannot read")
    if len(value.states) > 1:
        raise ScanError("it has a dtype built twice")
    try:
        dtype = numpy.dtype(*value.args)  # args checked by _Walker.make: (str, bool, True)
        if value.states:
            state = _literal(value.states[0], depth + 1)
            dtype = _dtype_from_state(dtype, state)
            same = dtype.__reduce__()[1:] == (value.args, state)
    except ScanError:
        raise
    except Exception as exc:  # numpy's refusal of a malformed dtype, whatever its type
        raise ScanError(f"it has an array whose dtype does not build ({exc})") from exc
    if value.states and not same:
        raise ScanError("it has a dtype numpy would not have written")
    return dtype


def _dtype_from_state(base: Any, state: Any) -> Any:
    """The dtype numpy's state tuple describes, from public constructors:
    ``(version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])``."""
    import numpy

    if not isinstance(state, tuple) or len(state) not in (8, 9):
        raise ScanError("it has a dtype state numpy would not have written")
    byteorder, subarray, names, fields, elsize, _, flags = state[1:8]
    metadata = state[8] if len(state) == 9 else None
    if subarray is not None:
        dtype = numpy.dtype(tuple(subarray))
    elif names is not None:
        columns = [fields[name] for name in names]
        spec: Any = {
            "names": list(names),
            "formats": [column[0] for column in columns],
            "offsets": [column[1] for column in columns],
            "titles": [column[2] if len(column) > 2 else None for column in columns],
            "itemsize": elsize,
        }
        dtype = numpy.dtype(spec, align=bool(flags & 0x80))  # NPY_ALIGNED_STRUCT
    else:
        dtype = base
        if isinstance(metadata, tuple):  # datetime64/timedelta64: ({}, (unit, count, 1, 1))
            unit, count = metadata[1][:2]
            dtype = numpy.dtype(f"{base.str[1:]}[{count}{unit.decode('ascii')}]")
            metadata = metadata[0] or None
        if byteorder in "<>" and dtype.byteorder != "|":
            dtype = dtype.newbyteorder(byteorder)
    if metadata:
        dtype = numpy.dtype(dtype, metadata=metadata)
    return dtype


def _literal(value: Any, depth: int) -> Any:
    """A state value as plain Python, for ``dtype.__setstate__``; nothing else passes."""
    if depth > 32:
        raise ScanError("it has a dtype nested too deep")
    if value is None or type(value) in (str, int, float, bool, bytes):
        return value
    if isinstance(value, tuple):
        return tuple(_literal(item, depth + 1) for item in value)
    if isinstance(value, _List) and value.exact:
        return [_literal(item, depth + 1) for item in value.items]
    if isinstance(value, _Dict) and value.exact:
        return {key: _literal(item, depth + 1) for key, item in value.items.items()}
    if isinstance(value, _Obj):
        return _materialize_dtype(value, depth + 1)
    raise ScanError("it has an array whose dtype mlayer cannot read")


def _utf8(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


_OPCODES = {
    "PROTO": "load_proto", "FRAME": "load_frame", "STOP": "load_pop", "MARK": "load_mark",
    "POP": "load_pop", "POP_MARK": "load_pop_mark", "DUP": "load_dup", "NONE": "load_none",
    "NEWTRUE": "load_true", "NEWFALSE": "load_false", "INT": "load_int", "LONG": "load_long",
    "BININT": "load_binint", "BININT1": "load_binint1", "BININT2": "load_binint2",
    "LONG1": "load_long1", "LONG4": "load_long4", "FLOAT": "load_float",
    "BINFLOAT": "load_binfloat", "STRING": "load_string", "BINSTRING": "load_binstring",
    "SHORT_BINSTRING": "load_short_binstring", "UNICODE": "load_unicode",
    "BINUNICODE": "load_binunicode", "BINUNICODE8": "load_binunicode8",
    "SHORT_BINUNICODE": "load_short_binunicode", "BINBYTES": "load_binbytes",
    "SHORT_BINBYTES": "load_short_binbytes", "BINBYTES8": "load_binbytes8",
    "BYTEARRAY8": "load_bytearray8", "READONLY_BUFFER": "load_readonly_buffer",
    "TUPLE": "load_tuple", "EMPTY_TUPLE": "load_empty_tuple", "TUPLE1": "load_tuple1",
    "TUPLE2": "load_tuple2", "TUPLE3": "load_tuple3", "EMPTY_LIST": "load_empty_list",
    "EMPTY_DICT": "load_empty_dict", "EMPTY_SET": "load_empty_set",
    "FROZENSET": "load_frozenset", "LIST": "load_list", "DICT": "load_dict",
    "APPEND": "load_append", "APPENDS": "load_appends", "ADDITEMS": "load_additems",
    "SETITEM": "load_setitem", "SETITEMS": "load_setitems", "GLOBAL": "load_global",
    "STACK_GLOBAL": "load_stack_global", "INST": "load_inst", "OBJ": "load_obj",
    "NEWOBJ": "load_newobj", "NEWOBJ_EX": "load_newobj_ex", "REDUCE": "load_reduce",
    "GET": "load_get", "BINGET": "load_binget", "LONG_BINGET": "load_long_binget",
    "PUT": "load_put", "BINPUT": "load_binput", "LONG_BINPUT": "load_long_binput",
    "MEMOIZE": "load_memoize", "BUILD": "load_build",
}  # fmt: skip
# Left out, so refused: PERSID/BINPERSID (joblib's unpickler has no persistent_load),
# EXT1/2/4 (the copyreg extension registry), NEXT_BUFFER (no out-of-band buffers).
_DISPATCH = {
    getattr(pickle, opcode): getattr(_Walker, method)
    for opcode, method in _OPCODES.items()
}
