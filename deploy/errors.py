"""The one error the launcher raises: its message is shown to the user as is, without a traceback."""

from __future__ import annotations


class LaunchError(Exception):
    """Something could not be started, stopped or checked; the message says what to do."""
