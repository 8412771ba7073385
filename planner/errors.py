"""Errors the user can act on, each with its exit code (the table is in ARCHITECTURE.md)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUG = 1
EXIT_BAD_INPUT = 2
EXIT_NO_FIT = 3
EXIT_LIVE_FAILED = 4
EXIT_DRIFT = 5
EXIT_IO_ERROR = 74  # sysexits.h EX_IOERR: the output (stdout) could not be written
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C


class PlannerError(Exception):
    exit_code = EXIT_BUG

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(PlannerError):
    """Bad input: an unknown name, a malformed file, an impossible option."""

    exit_code = EXIT_BAD_INPUT


class NoFitError(PlannerError):
    """Valid input that fits nowhere."""

    exit_code = EXIT_NO_FIT
