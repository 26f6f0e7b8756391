"""The scan's two refusals. Library-level: ``mlayer.model`` turns them into the
user's one-line ``UsageError`` naming the file."""

from __future__ import annotations


class ScanError(Exception):
    """The file cannot be read statically (the message says why); nothing was run."""


class TooLarge(ScanError):
    """The file expands past a limit of the scan."""
