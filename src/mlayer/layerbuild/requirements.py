"""Read a pip requirements file as pip does (no I/O but reading the files).

pip's requirements-file syntax, as ``pip install -r`` takes it: ``\\`` joins a
line with the next, ``#`` after whitespace starts a comment, options follow a
requirement on its line (``--hash=sha256:...``, as ``pip-compile
--generate-hashes`` writes), environment markers after ``;``, and option lines:
``-r``/``-c`` name more files (relative to the file naming them), ``-e`` an
editable project, ``--index-url`` and friends configure pip. Each requirement is
parsed with ``packaging``; a line that is not a name-based requirement (a path,
a URL, an editable) is kept as written, for pip to read.

Also here: what build-deps asks of the file before any install
(``check_requirements``, ``check_all_pinned`` for ``--no-deps``) and the pins
it holds (``pinned_versions``).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mlayer.errors import UsageError

# pip's COMMENT_RE: a # at the start or after whitespace starts a comment.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Options whose value names another requirements (or constraints) file.
_REQUIREMENT_OPTIONS = ("-r", "--requirement")
_CONSTRAINT_OPTIONS = ("-c", "--constraint")
_EDITABLE_OPTIONS = ("-e", "--editable")
_FIND_LINKS_OPTIONS = ("-f", "--find-links")


@dataclass(frozen=True)
class RequirementLine:
    """One logical line: where it is, as written, and its parsed requirement."""

    path: Path
    text: str  # the requirement without its options (--hash=...), or the option line
    requirement: Requirement | None  # None: a path, a URL or an editable


@dataclass
class RequirementsFile:
    """Everything a requirements file and the files it names hold, in order."""

    lines: list[RequirementLine] = field(default_factory=list)
    # -r and -c files, as pip will open them (relative to the file naming them)
    files: list[Path] = field(default_factory=list)
    constraints: list[RequirementLine] = field(default_factory=list)
    # local projects, archives and --find-links directories the lines name (relative
    # to the naming file's directory, where the Docker builder runs pip)
    local_paths: list[Path] = field(default_factory=list)


def logical_lines(text: str) -> list[str]:
    """Lines with ``\\`` continuations joined and comments removed, as pip does."""
    joined: list[str] = []
    pending: list[str] = []
    for line in text.splitlines():
        if line.endswith("\\") and not _COMMENT.match(line):
            pending.append(line[:-1])
            continue
        # a comment ending a continued line does not continue it further
        pending.append(line)
        joined.append("".join(pending))
        pending = []
    if pending:
        joined.append("".join(pending))
    return [stripped for line in joined if (stripped := _COMMENT.sub("", line).strip())]


def _split(line: str) -> tuple[str, list[str]]:
    """(the requirement part, the option tokens): options start at the first token
    beginning with ``-``, as pip's ``break_args_options`` splits them."""
    tokens = line.split(" ")
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:index]).strip(), shlex.split(" ".join(tokens[index:]))
    return line, []


def _option_value(tokens: list[str], names: tuple[str, ...]) -> str | None:
    """The value of the first option in ``names`` among ``tokens`` (``-r x``,
    ``-rx``, ``--requirement x``, ``--requirement=x``)."""
    for index, token in enumerate(tokens):
        for name in names:
            if token == name:
                return tokens[index + 1] if index + 1 < len(tokens) else ""
            if name.startswith("--") and token.startswith(name + "="):
                return token[len(name) + 1 :]
            if not name.startswith("--") and token.startswith(name) and len(token) > 2:
                return token[2:]
    return None


def _looks_like_path_or_url(text: str) -> bool:
    return (
        bool(_URL.match(text))
        or text.startswith((".", "/", "~"))
        or "/" in text
        or (text.endswith((".whl", ".zip", ".tar.gz", ".tgz")))
    )


def read_requirements(path: Path) -> RequirementsFile:
    """Parse ``path`` and the ``-r``/``-c`` files it names (URLs are left to pip)."""
    result = RequirementsFile()
    _read(path, result, constraint=False, seen=set())
    return result


def _read(path: Path, result: RequirementsFile, *, constraint: bool, seen: set[Path]) -> None:
    if path.resolve() in seen:
        return  # pip would loop; reading each file once is enough here
    seen.add(path.resolve())
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"requirements file {path} cannot be read: {exc}") from exc
    for line in logical_lines(text):
        requirement_text, options = _split(line)
        if not requirement_text:
            included = _option_value(options, _REQUIREMENT_OPTIONS)
            constraints = _option_value(options, _CONSTRAINT_OPTIONS)
            named = included or constraints
            if named and not _URL.match(named):
                nested = path.parent / named  # pip opens it relative to this file
                if not nested.is_file():
                    raise UsageError(f"{path}: {line!r} names {nested}, which does not exist")
                result.files.append(nested)
                _read(nested, result, constraint=constraint or not included, seen=seen)
            editable = _option_value(options, _EDITABLE_OPTIONS)
            if editable is not None:
                result.lines.append(RequirementLine(path, line, None))
            for local in (editable, _option_value(options, _FIND_LINKS_OPTIONS)):
                _add_local(result, path, local)
            continue  # --index-url, --pre, ...: pip's business
        try:
            parsed: Requirement | None = Requirement(requirement_text)
        except InvalidRequirement as exc:
            if not _looks_like_path_or_url(requirement_text):
                raise UsageError(f"{path}: cannot parse {line!r}: {exc}") from exc
            parsed = None
            _add_local(result, path, requirement_text.split(";", 1)[0].strip())
        entry = RequirementLine(path, requirement_text, parsed)
        (result.constraints if constraint else result.lines).append(entry)


def _add_local(result: RequirementsFile, path: Path, value: str | None) -> None:
    """Record ``value`` when it names an existing local file or directory."""
    if not value or (_URL.match(value) and not value.startswith("file:")):
        return
    local = Path(value.removeprefix("file://").removeprefix("file:").split("#", 1)[0]).expanduser()
    if not local.is_absolute():
        local = path.parent / local
    if local.exists() and local not in result.local_paths:
        result.local_paths.append(local)


def check_requirements(path: Path) -> None:
    """Refuse a requirements file that is missing, unreadable or not text."""
    if not path.is_file():
        raise UsageError(f"requirements file {path} does not exist")
    if not os.access(path, os.R_OK):
        raise UsageError(f"requirements file {path} is not readable")
    try:
        path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"requirements file {path} cannot be read: {exc}") from exc


def pinned_versions(requirements: Path) -> dict[str, str]:
    """``name -> version`` for every requirement pinned with ``==`` (names canonical),
    in the file and the ``-r`` files it names, whatever else pip's syntax puts on the
    line (``--hash``, markers, continuations)."""
    pins: dict[str, str] = {}
    for entry in read_requirements(requirements).lines:
        if entry.requirement is None:
            continue
        for spec in entry.requirement.specifier:
            if spec.operator in ("==", "==="):
                pins[canonicalize_name(entry.requirement.name)] = spec.version
    return pins


def check_all_pinned(requirements: Path) -> None:
    """``--no-deps`` installs exactly the listed versions: each must be pinned with ==."""
    for entry in read_requirements(requirements).lines:
        line, requirement = entry.text, entry.requirement
        if requirement is None:
            raise UsageError(
                f"{entry.path}: {line!r} cannot be used with --no-deps: list every "
                "package pinned with == (pip freeze gives that list)"
            )
        exact = [s for s in requirement.specifier if s.operator in ("==", "===")]
        if not exact or "*" in exact[0].version:
            raise UsageError(
                f"{entry.path}: {line!r} is not pinned: --no-deps needs every requirement "
                f"as name==version (e.g. {requirement.name}==X.Y.Z; pip freeze gives them)"
            )
