"""The command line's own error type for ordinary mistakes: `main()` prints its message as one `error: ...`
line and exits 2, with no traceback.

Raise it where the mistake is found, with one sentence naming the problem and what to do. The message names
options and settings, never a value from the data or a setting's value (a database URL may hold a password).
"""

from __future__ import annotations


class UsageProblem(Exception):
    """The user's input or configuration is at fault (exit code 2), not the program."""

    exit_code = 2
