"""The one error this package raises on purpose: a bank that cannot be used."""

from __future__ import annotations

from pathlib import Path

from render.errors import RenderError

__all__ = ["SoundFontError"]


class SoundFontError(RenderError, ValueError):
    """A missing, truncated, malformed or unusable SoundFont bank.

    The message names the file and what is wrong with it. The CLI exits 2 for it,
    before any rendering starts.

    Args:
        path: the bank file.
        problem: what is wrong, with the offending value or record when known.
        hint: the next step for the user.
    """

    exit_code = 2

    def __init__(self, path: str | Path, problem: str, *, hint: str | None = None) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"SoundFont {self.path}: {problem}", hint=hint)
