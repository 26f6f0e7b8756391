"""Defer the imports a model never touches, until their first real use. Stdlib only.

scikit-learn imports modules eagerly that a fitted model may never call (it
imports ``scipy.stats`` at import time, for instance, which takes a third of
the cold start). ``mlayer build-deps --defer-imports`` finds such modules by
running a sample of the model and writes them in ``DEFERRED_FILE`` at the root
of the deps layer's ``python/`` (on ``sys.path``). Importing this module, first
thing in the handler, puts a meta-path finder in front of the import system
that hands back a stub for exactly those modules.

A stub is a module whose attributes, read by a module as it is imported, are
proxies: ``from scipy.stats import rankdata`` binds a proxy, and only calling
it, reading an attribute of it, ``isinstance``/``issubclass`` against it or
subclassing it imports the real module (once), which then replaces the stub
in ``sys.modules`` and on its parent package. Read anywhere else (in a
function, by pickle), an attribute imports the module at once. A deferred
module the sample did not use still works: it is imported on first use and
pays its time then. (Proxies bound at import stay proxies, each use forwarded.)

``importlib.util.LazyLoader`` does not do this: the import system reads the
module's ``__spec__``, which loads it at once, and a plain stub fails at
``from X import name``.

Nothing is deferred when SnapStart restores the function: the snapshot is
taken after init and should hold everything.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
import threading
import time
import types
from collections.abc import Iterable, Sequence
from typing import Any

# Copies of mlayer/contract.py's (the handler never imports mlayer); tests/test_contract.py
# ties them.
DEFERRED_FILE = "mlayer-deferred.json"
DEFERRED_FORMAT = "mlayer-deferred/1"
# Lambda sets it; "snap-start" when the function is restored from a snapshot.
INITIALIZATION_TYPE_ENV = "AWS_LAMBDA_INITIALIZATION_TYPE"


class DeferredModule(types.ModuleType):
    """Stands in for a deferred module until it is used; attributes are proxies."""

    def __getattr__(self, name: str) -> Any:
        if not self.__dict__.get("_mlayer_ready") or name == "__path__":
            # The import system is still filling it in (it probes __loader__, __path__,
            # __file__): a stub lacks them. A package's stub has its __path__; another
            # module has none (``from module import name`` asks).
            raise AttributeError(name)
        finder: DeferringFinder = self.__loader__  # type: ignore[assignment]
        real = finder.real.get(self.__name__)
        if real is not None or not _importing(1):
            # Used, not bound: pickle's find_class, or a function run on a call.
            return getattr(real or finder.materialize(self.__name__), name)
        if name.startswith("__") and name.endswith("__"):
            # Dunders (__all__, __file__, __version__, ...) are read to be used at once.
            return getattr(finder.materialize(self.__name__), name)
        proxies: dict[str, AttributeProxy] = self.__dict__.setdefault("_mlayer_proxies", {})
        if name not in proxies:
            proxies[name] = AttributeProxy(self.__name__, name, finder)
        return proxies[name]


def _importing(depth: int) -> bool:
    """Whether the attribute is read by a module's own code as it is imported
    (``from X import name``, ``X.name`` at module level): the proxy's place. Any
    other reader (a function, a class body, pickle's ``find_class``, which builds
    instances of what it gets) wants the real attribute now."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:  # called from C with no Python frame (at exit)
        return False
    return frame.f_code.co_name in ("<module>", "_handle_fromlist")


class AttributeProxy:
    """``module.name`` of a deferred module: any use imports the module and acts on
    the real attribute (a missing one then raises AttributeError, as it would have)."""

    __slots__ = ("_mlayer_finder", "_mlayer_module", "_mlayer_name")

    def __init__(self, module: str, name: str, finder: DeferringFinder) -> None:
        object.__setattr__(self, "_mlayer_module", module)
        object.__setattr__(self, "_mlayer_name", name)
        object.__setattr__(self, "_mlayer_finder", finder)

    def _mlayer_target(self) -> Any:
        finder = object.__getattribute__(self, "_mlayer_finder")
        module = finder.materialize(object.__getattribute__(self, "_mlayer_module"))
        return getattr(module, object.__getattribute__(self, "_mlayer_name"))

    def __getattribute__(self, name: str) -> Any:
        if name in _OWN:
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "_mlayer_target")(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._mlayer_target(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._mlayer_target(), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._mlayer_target()(*args, **kwargs)

    def __instancecheck__(self, instance: Any) -> bool:
        return isinstance(instance, self._mlayer_target())

    def __subclasscheck__(self, subclass: type) -> bool:
        return issubclass(subclass, self._mlayer_target())

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[Any, ...]:
        return (self._mlayer_target(),)  # class C(proxy): the real class is the base

    def __repr__(self) -> str:
        return repr(self._mlayer_target())

    def __str__(self) -> str:
        return str(self._mlayer_target())

    def __eq__(self, other: object) -> bool:
        return bool(self._mlayer_target() == other)

    def __hash__(self) -> int:
        return hash(self._mlayer_target())

    def __bool__(self) -> bool:
        return bool(self._mlayer_target())

    def __len__(self) -> int:
        return len(self._mlayer_target())

    def __iter__(self) -> Any:
        return iter(self._mlayer_target())

    def __contains__(self, item: object) -> bool:
        return item in self._mlayer_target()

    def __getitem__(self, key: Any) -> Any:
        return self._mlayer_target()[key]

    def __or__(self, other: Any) -> Any:  # typing unions: int | proxy
        return self._mlayer_target() | other

    def __ror__(self, other: Any) -> Any:
        return other | self._mlayer_target()

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self._mlayer_target().__reduce_ex__(protocol)


# What a proxy answers itself; everything else is the real attribute's.
_OWN = frozenset(
    {
        *AttributeProxy.__slots__,
        "_mlayer_target",
        "__mro_entries__",
        "__instancecheck__",
        "__subclasscheck__",
        "__reduce_ex__",
    }
)


class _Existing(importlib.abc.Loader):
    """Hands back a module that importing its deferred parent already loaded."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.own_spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self.own_spec  # the import system set ours on it: put its own back


class DeferringFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The meta-path finder (and loader) of the stubs, for exactly ``names``."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        self.real: dict[str, types.ModuleType] = {}  # deferred module -> the real one, once used
        self.used_ms: dict[str, float] = {}  # what each first use paid
        self._resolving: set[str] = set()
        self._lock = threading.RLock()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in self.names:
            if fullname in self._resolving or fullname in self.real:
                return None
            found = importlib.machinery.PathFinder.find_spec(fullname, path)
            if found is None:
                return None  # not installed: the import fails as it would have
            spec = importlib.machinery.ModuleSpec(fullname, self)
            if found.submodule_search_locations is not None:
                # A package: ``from pkg import name`` and ``import pkg.sub`` read __path__.
                spec.submodule_search_locations = list(found.submodule_search_locations)
            return spec
        stubbed = self._stubbed_ancestor(fullname)
        if stubbed is None:
            return None
        # pkg.sub of a deferred pkg: that is a use of pkg. The real pkg may import sub
        # itself; then that module is the one to hand back, not a second copy.
        self.materialize(stubbed)
        existing = sys.modules.get(fullname)
        if existing is None:
            return None  # the ordinary finders import it now, under the real parent
        return importlib.machinery.ModuleSpec(fullname, _Existing(existing))

    def _stubbed_ancestor(self, fullname: str) -> str | None:
        parts = fullname.split(".")
        for end in range(1, len(parts)):
            name = ".".join(parts[:end])
            if name in self.names and isinstance(sys.modules.get(name), DeferredModule):
                return name
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return DeferredModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["_mlayer_ready"] = True  # nothing runs until the module is used

    def materialize(self, name: str) -> types.ModuleType:
        """Import the real module behind a stub (once) and put it where the stub was."""
        with self._lock:
            real = self.real.get(name)
            if real is not None:
                return real
            stub = sys.modules.get(name)
            if isinstance(stub, DeferredModule):
                del sys.modules[name]
            parent_name, _, child = name.rpartition(".")
            parent = sys.modules.get(parent_name) if parent_name else None
            if parent is not None and stub is not None and parent.__dict__.get(child) is stub:
                # While the real module runs, ``from parent import child`` (scipy.stats
                # does it) must find the real, half-initialized module, as in any cycle.
                delattr(parent, child)
            self._resolving.add(name)
            started = time.perf_counter()
            try:
                # Sets the real module in sys.modules and on its parent package.
                real = importlib.import_module(name)
            except BaseException:
                if isinstance(stub, DeferredModule):  # as it was: a later use tries again
                    sys.modules.setdefault(name, stub)
                    if parent is not None and not hasattr(parent, child):
                        setattr(parent, child, stub)
                raise
            finally:
                self._resolving.discard(name)
            self.used_ms[name] = (time.perf_counter() - started) * 1000
            self.real[name] = real
            return real


def listed_modules(paths: Iterable[str]) -> list[str]:
    """The modules the first ``DEFERRED_FILE`` on ``paths`` lists (none when there is none)."""
    for entry in paths:
        try:
            with open(os.path.join(entry or ".", DEFERRED_FILE)) as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("format") == DEFERRED_FORMAT:
            return [m["name"] for m in data.get("modules", []) if isinstance(m, dict)]
    return []


def install(names: Iterable[str]) -> DeferringFinder | None:
    """Defer ``names`` from now on (nothing under SnapStart); a module already
    imported stays as it is."""
    if os.environ.get(INITIALIZATION_TYPE_ENV) == "snap-start":
        return None  # the snapshot is taken after init: let it hold every module
    wanted = [name for name in names if name not in sys.modules]
    if not wanted:
        return None
    finder = DeferringFinder(wanted)
    sys.meta_path.insert(0, finder)
    return finder


# Installed on import, before the handler imports anything heavy (joblib.load imports
# scikit-learn while the model loads, so this must run first).
FINDER = install(listed_modules(sys.path))
