"""One exception tree for everything lyria-render raises on purpose.

Every message says what is wrong, where (file, line, column, field) and what to do
next. The CLI maps :attr:`RenderError.exit_code` to the process exit code and never
prints a traceback for these.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "RenderError",
    "Problem",
    "TimelineError",
    "UsageError",
    "BackendError",
    "AuthError",
    "TransientBackendError",
    "ProtocolError",
    "FilteredPromptError",
    "SpoolError",
    "MasterError",
    "ExportError",
    "BatchError",
]


class RenderError(Exception):
    """Base of every error lyria-render raises deliberately.

    Args:
        message: what went wrong, with the value and location when known.
        hint: the next step for the user, shown on its own line.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


@dataclass(frozen=True)
class Problem:
    """One located problem in an input file.

    ``line`` and ``column`` are 1-based; 0 means unknown. ``field`` is a dotted path
    such as ``events[3].config.brightness``.
    """

    file: str
    line: int
    column: int
    field: str
    message: str
    hint: str | None = None
    severity: str = "error"  # or "warning"

    def format(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}"
        text = f"{where}: {self.severity}: {self.field + ': ' if self.field else ''}{self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity,
        }


class TimelineError(RenderError):
    """A timeline file is malformed or invalid. Carries every problem found at once."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = [p for p in problems if p.severity == "error"]
        self.warnings = [p for p in problems if p.severity != "error"]
        lines = [p.format() for p in self.problems]
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found" if n > 1 else ""
        super().__init__("\n".join(([head] if head else []) + lines))


class UsageError(RenderError):
    """The command line or API call itself is wrong (exit code 2)."""

    exit_code = 2


class BackendError(RenderError):
    """The music generator failed."""


class AuthError(BackendError):
    """The service refused us (bad key, quota). Never retried blindly."""


class TransientBackendError(BackendError):
    """A dropped connection, a stall or a server-side error: worth a retry."""


class ProtocolError(BackendError):
    """The server sent something that breaks the protocol (bad mime, partial frames)."""


class FilteredPromptError(BackendError):
    """A prompt was filtered by the service and ``strict`` mode was on."""


class SpoolError(RenderError):
    """The on-disk spool is missing, locked or inconsistent."""


class MasterError(RenderError):
    """Mastering could not be done (e.g. settings that cannot be met)."""


class ExportError(RenderError):
    """An output file could not be written."""


class BatchError(RenderError):
    """A batch cannot start (e.g. two jobs write the same output)."""

    exit_code = 2
