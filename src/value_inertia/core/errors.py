"""The user-error policy: one base class for everything a user can fix.

A :class:`UserError` reaches the user as one ``error:`` line (exit code 2) that
names the file, key or item at fault; anything else is a bug and keeps its
traceback. Config, store and missing/damaged-input errors all derive from it.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input the user can fix; the message names the file, key or item."""


class ConfigError(UserError):
    """A configuration or input file is invalid. The message names file and key."""


class InputError(UserError):
    """An input table or file is missing or damaged (names the file and the stage)."""
