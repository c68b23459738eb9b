"""The project's one exception base class.

Every error a user can cause - a bad setting, file, checkpoint, upload, link value or budget - is a
:class:`DiffRecError` with a plain message, so the command line (one ``error:`` line, exit code 2) and the app (a
notice, the page keeps running) can tell it from a bug. Each subclass also derives from the built-in type that
describes it (``ValueError`` for bad input), so callers that catch those keep working.
"""
from __future__ import annotations


class DiffRecError(Exception):
    """An error the user can fix: the message says what was wrong and what is accepted."""
