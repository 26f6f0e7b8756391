"""The layer version descriptions mlayer writes and reads back (pure, no I/O).

A layer version's description (at most 256 characters, Lambda's limit) is
where mlayer keeps what it must know about a published version without
downloading it: the versions the compatibility gate compares, the unzipped
size deploy checks against Lambda's budget, the content hash. Two kinds, each
a first word and ``key=value`` words:

``mlayer-model sha256=<16> files=N dir=1 [unzipped=<bytes>] python=3.11.7 sklearn=1.7.2 … label=L``
(``dir=1``: the files are under ``/opt/mlayer-model/<content id>/``, so the layer can sit
beside another model layer; layers published before that layout lack it)
``mlayer-deps runtime=python3.11 arch=x86_64 python=3.11 sklearn=1.7.2 … unzipped=<bytes>
[pruned=1] sha256=<16> [saved-ms=N deferred=scipy.stats,…]`` (``--defer-imports``: the
measured saving and the deferred modules, as many as fit, then ``+K`` for the rest)

Function versions and the alias get descriptions too (Lambda's limit is
256 characters for both):

``mlayer-version deps=NAME:3 model=NAME:2 label=L`` — what a published function
version carries, so ``rollback`` finds a version by its model layer without
reading every version's layers, and ``cleanup`` deletes only mlayer's versions;
``mlayer-alias [pinned=2] [previous=4]`` — the model version pinned by rollback or
``--model-version`` (a later plain deploy keeps it), and the function version the
alias pointed at before (``rollback --to-previous``).

A description of another kind (a layer mlayer did not publish) reads as ``{}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlayer.layerbuild.archive import ZipSummary
    from mlayer.targets import Target

MODEL_KIND = "mlayer-model"
DEPS_KIND = "mlayer-deps"
VERSION_KIND = "mlayer-version"
OWN_DIRECTORY = "dir"  # a model description's word for a layer in its own directory
ALIAS_KIND = "mlayer-alias"
DESCRIPTION_LIMIT = 256  # Lambda's limit on a layer version's description
# The libraries a deps description records, by their distribution names.
DESCRIBED_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib")
# Distribution name -> the short name descriptions and the gate use.
_ALIASES = {"scikit-learn": "sklearn"}


def short_name(library: str) -> str:
    """``scikit-learn`` -> ``sklearn``; any other name as is."""
    return _ALIASES.get(library, library)


def model_description(
    *,
    content_sha256: str,
    files: int,
    trained_with: Mapping[str, str],
    label: str | None,
    unzipped_bytes: int | None = None,
) -> str:
    """A model layer version's description.

    The hash and the versions come first; only the label is cut when the
    whole would exceed Lambda's 256 characters, so the gate always has them.
    """
    parts = [MODEL_KIND, f"sha256={content_sha256[:16]}", f"files={files}", f"{OWN_DIRECTORY}=1"]
    if unzipped_bytes is not None:
        parts.append(f"unzipped={unzipped_bytes}")
    parts += [f"{short_name(lib)}={ver}" for lib, ver in sorted(trained_with.items())]
    parts.append(f"label={label or '-'}")
    return " ".join(parts)[:DESCRIPTION_LIMIT]


def deps_description(
    target: Target,
    versions: Mapping[str, str],
    summary: ZipSummary,
    *,
    pruned: bool = False,
    deferred: Sequence[str] = (),
    saved_ms: float | None = None,
) -> str:
    """The deps layer version's description, read back by the compatibility gate,
    deploy's size check, publish-model's module check and status."""
    parts = [
        DEPS_KIND,
        f"runtime={target.runtime}",
        f"arch={target.arch}",
        f"python={target.python_dotted}",
    ]
    parts += [f"{short_name(n)}={versions[n]}" for n in DESCRIBED_PACKAGES if n in versions]
    parts.append(f"unzipped={summary.unzipped_bytes}")
    if pruned:
        parts.append("pruned=1")
    parts.append(f"sha256={summary.sha256[:16]}")
    if deferred:
        parts.append(f"saved-ms={round(saved_ms or 0)}")
        parts.append(_deferred_word(deferred, DESCRIPTION_LIMIT - len(" ".join(parts)) - 1))
    return " ".join(parts)[:DESCRIPTION_LIMIT]


def _deferred_word(modules: Sequence[str], room: int) -> str:
    """``deferred=a,b,+3``: the modules that fit in ``room`` characters, then how many not."""
    for shown in range(len(modules), -1, -1):
        rest = len(modules) - shown
        word = "deferred=" + ",".join([*modules[:shown], *([f"+{rest}"] if rest else [])])
        if len(word) <= room:
            return word
    return f"deferred=+{len(modules)}"[:room]


def deferred_of(fields: Mapping[str, str]) -> tuple[list[str], int]:
    """A deps description's deferred modules (those it names) and how many more it has."""
    named, more = [], 0
    for word in filter(None, fields.get("deferred", "").split(",")):
        if word.startswith("+") and word[1:].isdigit():
            more = int(word[1:])
        else:
            named.append(word)
    return named, more


def parse_description(description: str, kind: str = MODEL_KIND) -> dict[str, str]:
    """The key=value pairs of a description of ``kind`` (``MODEL_KIND`` or
    ``DEPS_KIND``); another layer's description gives an empty dict."""
    words = description.split()
    if not words or words[0] != kind:
        return {}
    return dict(part.split("=", 1) for part in words[1:] if "=" in part)


def model_fields(description: str) -> dict[str, str]:
    """What a model layer version's description records, or ``{}``."""
    return parse_description(description, MODEL_KIND)


def deps_fields(description: str) -> dict[str, str]:
    """What a deps layer version's description records, or ``{}``."""
    return parse_description(description, DEPS_KIND)


def version_description(deps: str, model: str, label: str | None) -> str:
    """A published function version's: its deps and model layers (``NAME:V``) and
    the model's label."""
    return f"{VERSION_KIND} deps={deps} model={model} label={label or '-'}"[:DESCRIPTION_LIMIT]


def version_fields(description: str) -> dict[str, str]:
    """What a function version's description records, or ``{}`` (not mlayer's)."""
    return parse_description(description, VERSION_KIND)


def alias_description(pinned: int | None, previous: str | None) -> str:
    """The alias's: the pinned model layer version, the function version before."""
    parts = [ALIAS_KIND]
    if pinned is not None:
        parts.append(f"pinned={pinned}")
    if previous:
        parts.append(f"previous={previous}")
    return " ".join(parts)


def is_mlayer_alias(description: str) -> bool:
    """Whether an alias's description is one mlayer wrote (mlayer moves only those)."""
    return description.split(" ", 1)[0] == ALIAS_KIND


def alias_fields(description: str) -> dict[str, str]:
    """What the alias's description records, or ``{}``."""
    return parse_description(description, ALIAS_KIND)


def in_own_directory(description: str) -> bool:
    """Whether a model layer version keeps its files in their own directory (can
    sit beside another model layer), from its description."""
    return model_fields(description).get(OWN_DIRECTORY) == "1"
