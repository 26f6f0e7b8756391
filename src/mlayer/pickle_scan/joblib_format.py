"""What joblib writes around and between the pickle's opcodes, read exactly as
``joblib.load`` reads it.

- ``decompressed``: the file's bytes through the decompressor joblib picks.
- ``Source``: that stream with pickle framing and the ``MAX_EXPANDED_BYTES``
  limit; array data is skipped by streaming, never held.
- ``read_array``: what ``NumpyArrayWrapper.read_array`` consumes after the
  wrapper's BUILD: alignment padding and ``count * itemsize`` bytes, or, for an
  object dtype, a whole nested pickle (walked by the caller).
- ``materialize_dtype``: the array's dtype, for its item size, built the way the
  loader builds it but from numpy's public constructors only.
"""

from __future__ import annotations

import lzma
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from mlayer.pickle_scan.errors import ScanError, TooLarge
from mlayer.pickle_scan.values import ARRAY, UNKNOWN, DictValue, ListValue, Obj, is_pair

# Lambda's largest function memory is 10,240 MB: a model that expands beyond
# it cannot be loaded by any function.
MAX_EXPANDED_BYTES = 10_240 * 1024 * 1024

_LINE_LIMIT = 1 << 20  # a text opcode's line (protocol 0); joblib never writes long ones
_READ_CHUNK = 1 << 20
# What joblib's decompressors raise on a corrupt stream besides OSError/ValueError/
# EOFError: zlib (zlib, gzip) and lzma (lzma, xz); bz2 raises OSError.
_CORRUPT_STREAM = (OSError, ValueError, EOFError, zlib.error, lzma.LZMAError)


@contextmanager
def decompressed(raw: IO[bytes]) -> Iterator[IO[bytes]]:
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
    except _CORRUPT_STREAM as exc:
        raise ScanError(f"it cannot be decompressed ({exc})") from exc


class Source:
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


# --- joblib's arrays ---------------------------------------------------------------


def read_array(source: Source, wrapper: Obj, walk_pickle: Callable[[], object]) -> Any:
    """Consume what ``NumpyArrayWrapper.read_array`` reads after this BUILD;
    ``walk_pickle`` walks the nested pickle of an object-dtype array."""
    attrs = _wrapper_attributes(wrapper)
    shape = attrs.get("shape")
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise ScanError("it has an array whose shape mlayer cannot read")
    count = 1
    for size in shape:
        count *= size
    if count >= 2**63:
        raise ScanError("it has an array whose shape overflows")
    dtype = materialize_dtype(attrs.get("dtype"))
    source.require_frame_end("an array's data starts")
    if dtype.hasobject:
        # joblib hands the stream to a plain pickle.load: a whole pickle of its own.
        walk_pickle()
        return ARRAY
    alignment = attrs.get("numpy_array_alignment_bytes")
    if alignment is UNKNOWN or not (alignment is None or type(alignment) is int):
        raise ScanError("it has an array whose alignment mlayer cannot read")
    if alignment is not None:
        padding = source.read_raw(1)[0]
        source.skip_raw(padding)
    if dtype.itemsize == 0:
        raise ScanError("it has an array of zero-size items")
    source.skip_raw(count * dtype.itemsize)
    return ARRAY


_WRAPPER_INIT = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")


def _wrapper_attributes(wrapper: Obj) -> dict[str, Any]:
    """The wrapper's ``__dict__`` as the loader will have it at this BUILD."""
    attrs: dict[str, Any] = {}
    if wrapper.called:  # NumpyArrayWrapper(*args): __init__ sets every attribute
        if not 4 <= len(wrapper.args) <= 6:
            raise ScanError("it calls NumpyArrayWrapper with the wrong arguments")
        attrs.update({"allow_mmap": False, "numpy_array_alignment_bytes": 16})
        attrs.update(zip(_WRAPPER_INIT, wrapper.args, strict=False))
    for state in wrapper.states:
        dict_state, slot_state = state if is_pair(state) else (state, None)
        for part in (dict_state, slot_state):
            if part is None or part == () or part is False:
                continue
            if not isinstance(part, DictValue) or not part.exact:
                raise ScanError("it has an array whose header mlayer cannot read")
            attrs.update(part.items)
    return attrs


# --- the array's dtype ---------------------------------------------------------------


def materialize_dtype(value: Any, depth: int = 0) -> Any:
    """The ``numpy.dtype`` the loader will build from ``value``, built here without
    ``dtype.__setstate__`` (numpy crashes on some malformed states): from numpy's
    public constructors, then accepted only if it pickles to exactly the
    arguments and state the file holds, so the loader's dtype is the same one."""
    import numpy

    if not isinstance(value, Obj) or not value.is_dtype:
        raise ScanError("it has an array whose dtype mlayer cannot read")
    if len(value.states) > 1:
        raise ScanError("it has a dtype built twice")
    try:
        dtype = numpy.dtype(*value.args)  # args checked by Walker.make: (str, bool, True)
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
    if isinstance(value, ListValue) and value.exact:
        return [_literal(item, depth + 1) for item in value.items]
    if isinstance(value, DictValue) and value.exact:
        return {key: _literal(item, depth + 1) for key, item in value.items.items()}
    if isinstance(value, Obj):
        return materialize_dtype(value, depth + 1)
    raise ScanError("it has an array whose dtype mlayer cannot read")
