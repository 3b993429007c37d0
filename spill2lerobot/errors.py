"""The one exception type users see: a one-line message and an exit code, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """An expected failure caused by the input, the options or the environment.

    The CLI prints ``str(error)`` on one line and exits with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(" ".join(message.split()))  # always one line
        if exit_code is not None:
            self.exit_code = exit_code
