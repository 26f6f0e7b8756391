"""The compatibility gate: may this model be loaded by this deps layer? (pure, no I/O)

A joblib file only loads safely with the Python minor version, scikit-learn and
numpy it was saved with (the seed article's warning; scikit-learn says so with
``InconsistentVersionWarning``). ``publish-model``, ``deploy`` and ``rollback``
compare the model's trained-with versions (its manifest or its layer
description) with the deps layer's (its description or build inputs) and refuse
a difference before changing anything. ``--allow-version-mismatch`` lets it
through; the accepted difference is then recorded on the function
(``contract.MISMATCH_ENV``) so ``status`` shows it and the handler loads anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlayer.descriptions import short_name
from mlayer.errors import UsageError

# What must match, and how much of the version counts: the Python minor
# version, scikit-learn and numpy exactly. scipy and joblib are recorded but
# not gated: their pickles have been stable across releases.
GATED = ("python", "sklearn", "numpy")
_NAMES = {"python": "Python", "sklearn": "scikit-learn", "numpy": "numpy"}


class VersionMismatch(UsageError):
    """The model was saved with other versions than the deps layer holds."""


@dataclass(frozen=True)
class Mismatch:
    library: str  # a key of GATED
    model: str
    deps: str

    def describe(self) -> str:
        return f"{_NAMES[self.library]} {self.model} (model) vs {self.deps} (deps)"


@dataclass(frozen=True)
class GateResult:
    """The outcome of comparing one model with one deps layer."""

    model_ref: str
    deps_ref: str
    mismatches: tuple[Mismatch, ...] = ()
    unchecked: tuple[str, ...] = ()  # gated libraries one side does not record
    allowed: bool = False

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        """One line for the function's environment and ``status``."""
        return "; ".join(m.describe() for m in self.mismatches)

    def notes(self) -> tuple[str, ...]:
        notes = []
        if self.mismatches and self.allowed:
            notes.append(f"version mismatch allowed (--allow-version-mismatch): {self.summary()}")
        if self.unchecked:
            notes.append(
                f"cannot check {', '.join(_NAMES[n] for n in self.unchecked)} of "
                f"{self.model_ref} against {self.deps_ref}: one of them does not record it"
            )
        return tuple(notes)


def normalise(versions: Mapping[str, str]) -> dict[str, str]:
    """Manifest names (``scikit-learn``) and description names (``sklearn``) alike."""
    return {short_name(name): value for name, value in versions.items() if value}


def _comparable(library: str, version: str) -> str:
    # Python counts to the minor version: 3.11.7 and 3.11 are the same runtime.
    return ".".join(version.split(".")[:2]) if library == "python" else version


def compare(
    model: Mapping[str, str],
    deps: Mapping[str, str],
    *,
    model_ref: str,
    deps_ref: str,
    allow: bool = False,
) -> GateResult:
    """Compare the gated versions; never raises (see ``check``)."""
    model, deps = normalise(model), normalise(deps)
    mismatches, unchecked = [], []
    for library in GATED:
        if library not in model or library not in deps:
            unchecked.append(library)
            continue
        ours, theirs = _comparable(library, model[library]), _comparable(library, deps[library])
        if ours != theirs:
            mismatches.append(Mismatch(library, ours, theirs))
    return GateResult(model_ref, deps_ref, tuple(mismatches), tuple(unchecked), allow)


def check(
    model: Mapping[str, str],
    deps: Mapping[str, str],
    *,
    model_ref: str,
    deps_ref: str,
    allow: bool = False,
) -> GateResult:
    """``compare``, raising ``VersionMismatch`` when versions differ and ``allow`` is off."""
    result = compare(model, deps, model_ref=model_ref, deps_ref=deps_ref, allow=allow)
    if result.mismatches and not allow:
        raise VersionMismatch(refusal(result))
    return result


def refusal(result: GateResult) -> str:
    """The one-line refusal: both versions, and the two ways out."""
    saved = ", ".join(f"{_NAMES[m.library]} {m.model}" for m in result.mismatches)
    has = ", ".join(f"{_NAMES[m.library]} {m.deps}" for m in result.mismatches)
    pins = " ".join(
        f"{_NAMES[m.library].lower()}=={m.model}"
        for m in result.mismatches
        if m.library != "python"
    )
    python = next((m.model for m in result.mismatches if m.library == "python"), None)
    rebuild = "rebuild the deps layer with " + " and ".join(
        part
        for part in (
            f"--runtime python{python}" if python else "",
            pins,
        )
        if part
    )
    return (
        f"model {result.model_ref} was saved with {saved} but deps layer {result.deps_ref} "
        f"has {has}: {rebuild} (mlayer build-deps --publish), or retrain the model with "
        f"{has}; --allow-version-mismatch goes ahead anyway"
    )
