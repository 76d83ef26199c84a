"""Find timeline files from paths, folders and globs; validate many at once."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .errors import Problem, TimelineError, UsageError
from .loader import TIMELINE_SUFFIXES, LoadedTimeline, load_timeline

__all__ = ["find_timelines", "ValidationResult", "validate_paths"]


def find_timelines(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files, folders (recursive) and globs into a sorted, de-duplicated list.

    Raises:
        UsageError: a path that does not exist or a glob that matches nothing.
    """
    found: dict[Path, None] = {}
    for raw in paths:
        text = str(raw)
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            files = [m for m in matches if m.is_file() and m.suffix.lower() in TIMELINE_SUFFIXES]
            if not files:
                raise UsageError(f"{text}: the glob matches no timeline files (.yaml, .yml, .json)")
            found.update(dict.fromkeys(files))
            continue
        p = Path(text)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in TIMELINE_SUFFIXES
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            found.update(dict.fromkeys(files))
        elif p.is_file():
            found[p] = None
        else:
            raise UsageError(f"{text}: no such file or folder")
    return list(found)


@dataclass
class ValidationResult:
    """The outcome of validating one file: ``loaded`` when valid, else ``problems``."""

    path: Path
    loaded: LoadedTimeline | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.loaded is not None


def validate_paths(paths: Iterable[str | Path]) -> list[ValidationResult]:
    """Validate every timeline under ``paths`` and return one result per file (never raises for content)."""
    results = []
    for path in find_timelines(paths):
        try:
            loaded = load_timeline(path)
        except TimelineError as exc:
            results.append(ValidationResult(path, None, exc.problems, exc.warnings))
        else:
            results.append(ValidationResult(path, loaded, [], loaded.warnings))
    return results
