"""The allowlist: which globals a model's pickles may name.

A pickle runs what it names when it is loaded, so each name is judged here:
classes of the packages the deps layer ships (``ALLOWED_PACKAGES``), a short list
of functions scikit-learn models need (``ALLOWED_NAMES``), and the plain-data
builtins (``SAFE_BUILTINS``). Parts of those packages that touch files, load
native code or run on import (``EXCLUDED_MODULES``) are never imported here and
never allowed. ``untrusted_globals`` is what ``mlayer.model`` asks.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Iterable

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
    return issubclass(cls, (numpy.memmap, NumpyArrayWrapper)) or (
        issubclass(cls, numpy.dtype) and cls is not numpy.dtype
    )
