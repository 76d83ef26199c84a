"""Find timeline files from paths, folders and globs; validate many at once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from render.errors import Problem, TimelineError
from render.files import MANIFEST_SUFFIX, expand_paths

from .loader import TIMELINE_SUFFIXES, LoadedTimeline, load_timeline

__all__ = ["find_timelines", "ValidationResult", "validate_paths", "is_manifest"]


def is_manifest(path: str | Path) -> bool:
    """Whether ``path`` is a render manifest, by name (``*.manifest.json``) or by content
    (a JSON object with ``manifest_version``: older ``NAME.json`` ones), so an OUTDIR inside an
    input folder is not read as timelines."""
    p = Path(path)
    if p.name.lower().endswith(MANIFEST_SUFFIX):
        return True
    if p.suffix.lower() != ".json":
        return False
    try:
        text = p.read_text(encoding="utf-8")
        return '"manifest_version"' in text and "manifest_version" in json.loads(text)
    except (OSError, ValueError, TypeError):
        return False


def find_timelines(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files, folders (recursive) and globs into a sorted, de-duplicated list.

    Raises:
        UsageError: a path that does not exist or a glob that matches nothing.
    """
    found: dict[Path, None] = {}
    for raw in paths:
        found.update(dict.fromkeys(expand_paths(str(raw), TIMELINE_SUFFIXES)[1]))
    return list(found)


@dataclass
class ValidationResult:
    """The outcome of validating one file: ``loaded`` when valid, else ``problems``."""

    path: Path
    loaded: LoadedTimeline | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.loaded is not None or self.skipped is not None


def validate_paths(paths: Iterable[str | Path]) -> list[ValidationResult]:
    """Validate every timeline under ``paths`` and return one result per file (never raises for content).

    Render manifests are not validated: their result has ``skipped`` set.
    """
    results = []
    for path in find_timelines(paths):
        if is_manifest(path):
            results.append(ValidationResult(path, skipped="a render manifest, not a timeline"))
            continue
        try:
            loaded = load_timeline(path)
        except TimelineError as exc:
            results.append(ValidationResult(path, None, exc.problems, exc.warnings))
        else:
            results.append(ValidationResult(path, loaded, [], loaded.warnings))
    return results
