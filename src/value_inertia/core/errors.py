"""The user-error policy: one base class for everything a user can fix.

A :class:`UserError` reaches the user as one ``error:`` line (exit code 2) that
names the file, key or item at fault; anything else is a bug and keeps its
traceback. Config, store and missing/damaged-input errors all derive from it.

A :class:`RunFailure` is a run that went wrong although its input was fine (too
many failed requests, a spend budget reached, a failed push): one ``error:`` line
too, exit code 1. The CLI catches these two bases and nothing else.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input the user can fix; the message names the file, key or item."""


class ConfigError(UserError):
    """A configuration or input file is invalid. The message names file and key."""


class InputError(UserError):
    """An input table or file is missing, damaged or stale (names the file and the stage)."""


class RunFailure(Exception):
    """A run that failed on valid input (exit 1); the message says what was kept."""
