"""The one exception hierarchy of mlayer.

Library code raises these; the CLI turns them into a one-line message and a
non-zero exit code in a single place (``cli.main``). Each message says what is
wrong and what to do about it.
"""

from __future__ import annotations


class MlayerError(Exception):
    """A problem the user can fix; its text is shown as is."""

    exit_code = 1


class UsageError(MlayerError):
    """A flag, a config value or an input file is wrong."""

    exit_code = 2


class BuildError(MlayerError):
    """Building a layer failed (pip, Docker, verification, size budget)."""


class AwsError(MlayerError):
    """AWS refused a call or could not be reached."""


class NotFound(AwsError):
    """A function, layer or layer version does not exist."""
