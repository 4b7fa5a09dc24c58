"""One error type for everything a user can get wrong.

Each message is one line: what was wrong and what to do. The command line prints
it without a traceback, and inside IPython/Jupyter `stlib` shows it the same way.
"""

from __future__ import annotations

import sys


class StlibError(ValueError):
    """Bad input or a run that cannot go on; the message says what to do."""


class DivergedError(StlibError):
    """The loss became NaN or infinite; ``result`` keeps everything computed before."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


def check_choice(value, choices, what: str):
    """``value`` if it is one of ``choices``, else a `StlibError`: ``unknown {what} 'x': use 'a', 'b' or 'c'``."""
    if value not in choices:
        *first, last = (repr(choice) for choice in choices)
        raise StlibError(f"unknown {what} {value!r}: use {', '.join(first)} or {last}")
    return value


def _show_one_line(shell, etype, value, tb, tb_offset=None):  # pragma: no cover - IPython hook
    print(f"{etype.__name__}: {value}")


def ipython_shell():
    """The running IPython (Jupyter) shell, or None in plain Python (which never pays for importing IPython)."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def install_ipython_handler() -> None:
    """In IPython, print StlibError as one line instead of a deep traceback."""
    if (shell := ipython_shell()) is not None:
        shell.set_custom_exc((StlibError,), _show_one_line)
