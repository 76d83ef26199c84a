"""One exception tree for everything lyria-render raises on purpose.

Every message says what is wrong, where (file, line, column, field) and what to do
next. The CLI maps :attr:`RenderError.exit_code` to the process exit code and never
prints a traceback for these.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

__all__ = [
    "RenderError",
    "Problem",
    "TimelineError",
    "UsageError",
    "MissingExtraError",
    "BackendError",
    "AuthError",
    "TransientBackendError",
    "ProtocolError",
    "FilteredPromptError",
    "SpoolError",
    "UntrustedSpoolError",
    "MasterError",
    "ExportError",
    "BatchError",
    "AudioFileError",
    "FileSystemError",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
]

# The exit codes, everywhere (README "Exit codes"): 0 ok, 1 a render failed, 2 bad input or
# usage (a missing extra, a spool that exists or cannot be resumed included), 130 Ctrl-C.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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


class MissingExtraError(UsageError):
    """An optional feature's packages are not installed (exit code 2: install the extra)."""

    EXTRAS = {"google": "lyria", "websockets": "serve", "trustme": "serve"}

    @classmethod
    def from_import(cls, exc: ModuleNotFoundError) -> "MissingExtraError | None":
        """The error naming the extra to install, or None when ``exc`` is not an optional package."""
        top = (exc.name or "").split(".")[0]
        extra = cls.EXTRAS.get(top)
        if extra is None:
            return None
        return cls(f"this needs the optional package {exc.name!r}, which is not installed",
                   hint=f"pip install 'lyria-render[{extra}]'")


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
    """The on-disk spool is missing, locked or inconsistent (exit code 2: the remedy is a flag)."""

    exit_code = 2


class UntrustedSpoolError(SpoolError):
    """A spool fails the checks on what it names (paths, links, sizes, frame counts).

    A crash never causes this (recovery repairs what a kill leaves), so it is refused and
    never replaced automatically: ``--fresh`` (or deleting the folder) discards it.
    """


class MasterError(RenderError):
    """Mastering could not be done (e.g. settings that cannot be met)."""


class ExportError(RenderError):
    """An output file could not be written."""


class AudioFileError(ExportError):
    """An audio file given as input (``inspect``) is unreadable, mislabelled or malformed (exit code 2)."""

    exit_code = 2


class BatchError(RenderError):
    """A batch cannot start (e.g. two jobs write the same output)."""

    exit_code = 2


_OS_HINTS = {
    errno.ENOSPC: "free some disk space",
    errno.EDQUOT: "free some disk space (the disk quota is used up)",
    errno.EACCES: "check the permissions, or write elsewhere (-o)",
    errno.EPERM: "check the permissions, or write elsewhere (-o)",
    errno.EROFS: "the file system is read-only: write elsewhere (-o)",
    errno.ENAMETOOLONG: "use a shorter output name (--name) or a shorter path",
    errno.EISDIR: "give a file path, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file of that name is in the way",
    errno.ENOENT: "check the path",
}


class FileSystemError(RenderError):
    """The operating system refused a file operation (permissions, a full disk, a name too long).

    Exit code 2 before a render starts; 1 (with the spool kept for ``--resume``) during one.
    """

    exit_code = 2

    @classmethod
    def from_os(cls, exc: OSError, *, spool: object = None) -> "FileSystemError":
        """A clear message for ``exc``; with ``spool`` (the kept spool folder), a failed render."""
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror or exc}"
        hint = _OS_HINTS.get(exc.errno or 0, "check the path and the permissions")
        if spool is None:
            return cls(text, hint=hint)
        err = cls(f"the render failed: {text}; the audio received so far is kept in {spool}",
                  hint=f"{hint}, then continue with the same command plus --resume")
        err.exit_code = EXIT_FAILED
        return err
