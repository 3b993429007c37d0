"""The one exception type users see: a one-line message and an exit code, never a traceback."""

from __future__ import annotations

MAX_MESSAGE = 600


class UserError(Exception):
    """An expected failure caused by the input, the options or the environment.

    The CLI prints ``str(error)`` on one line and exits with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        text = " ".join(message.split())  # always one line
        if len(text) > MAX_MESSAGE:  # values from hostile input are cut where built; this is the net
            text = text[: MAX_MESSAGE - 40] + " ... " + text[-35:]
        super().__init__(text)
        if exit_code is not None:
            self.exit_code = exit_code
