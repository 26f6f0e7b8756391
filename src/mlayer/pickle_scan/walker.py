"""The walk: what each pickle opcode means, followed as the unpickler follows
it, with nothing it names imported or run.

``Walker`` runs on ``machine.StackMachine`` (stack, MARKs, memo, arguments) and
decides what each opcode builds: a ``Global`` for a name (recorded in ``Found``),
an ``Obj`` for a call, and the ``_sklearn_version`` of each state built into an
object. In the top-level pickle of a joblib file, a wrapper's BUILD hands the
stream to ``joblib_format.read_array``, which skips the array's bytes or has a
nested walker read its pickle. Opcodes joblib never writes are refused (not in
``_DISPATCH``), and so is anything the walk could not follow exactly.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import pickle
import struct
from collections.abc import Callable
from typing import Any

from mlayer.pickle_scan.errors import ScanError
from mlayer.pickle_scan.joblib_format import Source, read_array
from mlayer.pickle_scan.machine import STRING_KEPT, Found, StackMachine
from mlayer.pickle_scan.values import (
    DTYPE,
    UNKNOWN,
    DictValue,
    Global,
    ListValue,
    Obj,
    check_not_wrapper,
    holds_dtype,
    is_pair,
)

_ITEMS_KEPT = 4096  # per list or dict: more is never a state we need to read


class Walker(StackMachine):
    """Follows one pickle's opcodes with ``pickle._Unpickler``'s stack semantics,
    building inert stand-ins (``Obj``, ``ListValue``, ``DictValue``) instead of objects.

    ``joblib_layout``: the top-level pickle of a joblib file, where building a
    ``NumpyArrayWrapper`` reads the array's bytes (or a nested pickle) from the
    stream, as ``joblib.numpy_pickle.NumpyUnpickler.load_build`` does.
    """

    def __init__(self, source: Source, found: Found, *, joblib_layout: bool) -> None:
        super().__init__(source, found)
        self.joblib_layout = joblib_layout
        self.proto = 0

    def run(self) -> Any:
        """Walk up to STOP; the value the pickle would return."""
        while True:
            code = self.source.read(1)
            if code == pickle.STOP:
                self.source.require_frame_end("the pickle ends")
                return self.pop()
            handler = _DISPATCH.get(code)
            if handler is None:
                raise ScanError(f"its pickle has an opcode mlayer does not read ({code!r})")
            handler(self)

    # -- globals and calls
    def find_class(self, module: Any, name: Any) -> Global:
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
        return Global(module, name)

    def make(self, callee: Any, args: Any, *, called: bool) -> Obj:
        if not isinstance(callee, Global):
            raise ScanError("its pickle calls something other than a named global")
        if not isinstance(args, tuple):
            raise ScanError("its pickle calls a global with arguments that are not a tuple")
        check_not_wrapper(args)
        if callee == Global(*DTYPE) and not (
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
        return Obj(callee, args, called, may_be_dtype=holds_dtype(args))

    # -- opcodes that take more than a line (names as in pickle.py)
    def load_proto(self) -> None:
        self.proto = self.byte()
        if self.proto > 5:
            raise ScanError(f"its pickle uses protocol {self.proto}")

    def load_pop(self) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark()

    def load_int(self) -> None:
        data = self.line()
        try:
            value: Any = {b"00": False, b"01": True}.get(data)
            self.push(int(data, 0) if value is None else value)
        except ValueError as exc:
            raise ScanError("its pickle holds an INT that is not a number") from exc

    def load_long(self) -> None:
        data = self.line()
        try:
            self.push(int(data[:-1] if data.endswith(b"L") else data, 0))
        except ValueError as exc:
            raise ScanError("its pickle holds a LONG that is not a number") from exc

    def load_long4(self) -> None:
        size = self.number("<i")
        if size < 0:
            raise ScanError("its pickle holds a LONG4 of negative size")
        if size > 64:  # far past any shape or size
            self.source.skip(size)
            self.push(UNKNOWN)
        else:
            self.push(self.long(size))

    def load_float(self) -> None:
        try:
            self.push(float(self.line()))
        except ValueError as exc:
            raise ScanError("its pickle holds a FLOAT that is not a number") from exc

    def load_string(self) -> None:
        data = self.line()
        if len(data) < 2 or data[0] != data[-1] or data[0] not in b"\"'":
            raise ScanError("its pickle holds a STRING without quotes")
        self.push(_ascii(codecs.escape_decode(data[1:-1])[0]))

    def load_binstring(self) -> None:
        size = self.number("<i")
        if size < 0:
            raise ScanError("its pickle holds a BINSTRING of negative size")
        self.push(self.text(size, _ascii))

    def load_unicode(self) -> None:
        text = self.line().decode("raw-unicode-escape")
        self.push(text if len(text) <= STRING_KEPT else UNKNOWN)

    def load_tuple(self) -> None:
        items = self.pop_mark()
        check_not_wrapper(items)
        self._hold(None, 8 * len(items))
        self.push(tuple(items))

    def tuple_of(self, count: int) -> None:
        if len(self.stack) < count:
            raise ScanError("its pickle builds a tuple from an empty stack")
        items = self.stack[-count:]
        del self.stack[-count:]
        check_not_wrapper(items)
        self.push(tuple(items))

    def load_frozenset(self) -> None:
        items = self.pop_mark()
        check_not_wrapper(items)
        self.push(UNKNOWN)

    def load_list(self) -> None:
        target = ListValue()
        self._extend(target, self.pop_mark())
        self.push(target)

    def load_dict(self) -> None:
        items = self.pop_mark()
        target = DictValue()
        self._set_items(target, items)
        self.push(target)

    def _extend(self, target: Any, items: list[Any]) -> None:
        check_not_wrapper(items)
        if not isinstance(target, ListValue):
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
        check_not_wrapper(items)
        if not isinstance(target, DictValue):
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

    def load_appends(self) -> None:  # and ADDITEMS: a set's members are kept like a list's
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
        module = self.line().decode("utf-8")
        name = self.line().decode("utf-8")
        self.push(self.find_class(module, name))

    def load_stack_global(self) -> None:
        name = self.pop()
        module = self.pop()
        self.push(self.find_class(module, name))

    def load_inst(self) -> None:
        module = self.line().decode("ascii")
        name = self.line().decode("ascii")
        callee = self.find_class(module, name)
        self.push(self.make(callee, tuple(self.pop_mark()), called=True))

    def load_obj(self) -> None:
        args = self.pop_mark()
        if not args:
            raise ScanError("its pickle has an OBJ without a class")
        self.push(self.make(args[0], tuple(args[1:]), called=True))

    def call(self, *, called: bool) -> None:
        """REDUCE (``callee(*args)``) or NEWOBJ (``cls.__new__(cls, *args)``)."""
        args = self.pop()
        callee = self.pop()
        self.push(self.make(callee, args, called=called))

    def load_newobj_ex(self) -> None:
        kwargs = self.pop()
        args = self.pop()
        cls = self.pop()
        check_not_wrapper([kwargs])
        if isinstance(kwargs, DictValue):
            check_not_wrapper(kwargs.items.values())
        self.push(self.make(cls, args, called=False))

    def load_build(self) -> None:
        state = self.pop()
        inst = self.top()
        check_not_wrapper([state])
        dict_state, slot_state = state if is_pair(state) else (state, None)
        for part in (dict_state, slot_state):
            if isinstance(part, DictValue):
                check_not_wrapper(part.items.values())
                version = part.items.get("_sklearn_version")
                if isinstance(version, str):
                    self.found.versions.add(version)
        if isinstance(inst, Obj):
            if inst.may_be_dtype:
                raise ScanError("it builds state into what a call returned from a numpy dtype")
            inst.states.append(state)
            if inst.is_wrapper and self.joblib_layout:
                self.stack[-1] = read_array(self.source, inst, self._walk_object_array)

    def _walk_object_array(self) -> Any:
        # joblib hands the stream to a plain pickle.load: a whole pickle of its own.
        return Walker(self.source, self.found, joblib_layout=False).run()


def _ascii(data: bytes) -> str:
    """A Python 2 string: joblib's unpickler decodes them as ASCII."""
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ScanError("its pickle holds a Python 2 string that is not ASCII") from exc


def _utf8(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


# What each opcode the walk reads does; STOP ends ``Walker.run``. Left out, so
# refused: PERSID/BINPERSID (joblib's unpickler has no persistent_load), EXT1/2/4
# (the copyreg extension registry), NEXT_BUFFER (no out-of-band buffers).
_DISPATCH: dict[bytes, Callable[[Walker], object]] = {
    pickle.PROTO: Walker.load_proto,
    pickle.FRAME: lambda w: w.source.start_frame(w.number("<Q")),
    # the stacks
    pickle.MARK: Walker.mark,
    pickle.POP: Walker.load_pop,
    pickle.POP_MARK: lambda w: w.pop_mark(),
    pickle.DUP: lambda w: w.push(w.top()),
    # constants and numbers
    pickle.NONE: lambda w: w.push(None),
    pickle.NEWTRUE: lambda w: w.push(True),
    pickle.NEWFALSE: lambda w: w.push(False),
    pickle.INT: Walker.load_int,
    pickle.BININT: lambda w: w.push(w.number("<i")),
    pickle.BININT1: lambda w: w.push(w.byte()),
    pickle.BININT2: lambda w: w.push(w.number("<H")),
    pickle.LONG: Walker.load_long,
    pickle.LONG1: lambda w: w.push(w.long(w.byte())),
    pickle.LONG4: Walker.load_long4,
    pickle.FLOAT: Walker.load_float,
    pickle.BINFLOAT: lambda w: w.push(struct.unpack(">d", w.source.read(8))[0]),
    # strings and bytes
    pickle.STRING: Walker.load_string,
    pickle.BINSTRING: Walker.load_binstring,
    pickle.SHORT_BINSTRING: lambda w: w.push(w.text(w.byte(), _ascii)),
    pickle.UNICODE: Walker.load_unicode,
    pickle.BINUNICODE: lambda w: w.push(w.text(w.number("<I"), _utf8)),
    pickle.BINUNICODE8: lambda w: w.push(w.text(w.number("<Q"), _utf8)),
    pickle.SHORT_BINUNICODE: lambda w: w.push(w.text(w.byte(), _utf8)),
    pickle.BINBYTES: lambda w: w.push(w.binary(w.number("<I"))),
    pickle.SHORT_BINBYTES: lambda w: w.push(w.binary(w.byte())),
    pickle.BINBYTES8: lambda w: w.push(w.binary(w.number("<Q"))),
    pickle.BYTEARRAY8: lambda w: w.push(w.binary(w.number("<Q"))),
    pickle.READONLY_BUFFER: lambda w: w.top(),
    # containers
    pickle.TUPLE: Walker.load_tuple,
    pickle.EMPTY_TUPLE: lambda w: w.push(()),
    pickle.TUPLE1: lambda w: w.tuple_of(1),
    pickle.TUPLE2: lambda w: w.tuple_of(2),
    pickle.TUPLE3: lambda w: w.tuple_of(3),
    pickle.EMPTY_LIST: lambda w: w.push(ListValue()),
    pickle.EMPTY_DICT: lambda w: w.push(DictValue()),
    pickle.EMPTY_SET: lambda w: w.push(ListValue()),  # a set's members: kept like a list's
    pickle.FROZENSET: Walker.load_frozenset,
    pickle.LIST: Walker.load_list,
    pickle.DICT: Walker.load_dict,
    pickle.APPEND: Walker.load_append,
    pickle.APPENDS: Walker.load_appends,
    pickle.ADDITEMS: Walker.load_appends,
    pickle.SETITEM: Walker.load_setitem,
    pickle.SETITEMS: Walker.load_setitems,
    # globals and calls
    pickle.GLOBAL: Walker.load_global,
    pickle.STACK_GLOBAL: Walker.load_stack_global,
    pickle.INST: Walker.load_inst,
    pickle.OBJ: Walker.load_obj,
    pickle.NEWOBJ: lambda w: w.call(called=False),
    pickle.NEWOBJ_EX: Walker.load_newobj_ex,
    pickle.REDUCE: lambda w: w.call(called=True),
    pickle.BUILD: Walker.load_build,
    # the memo
    pickle.GET: lambda w: w.memo_get(int(w.line())),
    pickle.BINGET: lambda w: w.memo_get(w.byte()),
    pickle.LONG_BINGET: lambda w: w.memo_get(w.number("<I")),
    pickle.PUT: lambda w: w.memo_put(int(w.line())),
    pickle.BINPUT: lambda w: w.memo_put(w.byte()),
    pickle.LONG_BINPUT: lambda w: w.memo_put(w.number("<I")),
    pickle.MEMOIZE: lambda w: w.memo_put(len(w.memo)),
}
