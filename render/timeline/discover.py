"""Find timeline files from paths, folders and globs; validate many at once."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from render.errors import Problem, TimelineError
from render.files import MANIFEST_SUFFIX, expand_paths

from .limits import load_limited
from .loader import TIMELINE_SUFFIXES, LoadedTimeline, load_timeline

__all__ = ["find_timelines", "ValidationResult", "validate_paths", "timeline_kind", "discover",
           "IGNORE_FILE", "NAMING_SUFFIXES", "is_manifest"]

#: Files named like this are always timelines; other .yaml/.yml/.json files found in folders
#: or globs are timelines only when their top-level keys say so (``prompts`` and ``duration``).
NAMING_SUFFIXES = (".timeline.yaml", ".timeline.yml", ".timeline.json")
#: A file of glob patterns (one a line, ``#`` comments) in a searched folder: matching paths,
#: relative to that folder, are not picked up.
IGNORE_FILE = ".lyriaignore"
_KEYS = {"prompts", "duration", "events"}
_KEY_LINE = re.compile(r'^(?:"?(?:prompts|duration|events)"?\s*:|\{\s*"(?:prompts|duration|events)")', re.M)
_NOT_A_TIMELINE = "no top-level 'prompts', 'duration' or 'events' (name timelines *.timeline.yaml to force)"
_PEEK_BYTES = 256_000


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


def timeline_kind(path: Path) -> str | None:
    """None when ``path`` is (or may be) a timeline, else why it is skipped.

    Named ``*.timeline.yaml|json``, a render manifest (validate reports it as skipped), a
    mapping with a top-level ``prompts``, ``duration`` or ``events``, or a file that cannot
    be read as YAML/JSON at all (a broken timeline: its error is worth a location) are kept.
    """
    if path.name.lower().endswith(NAMING_SUFFIXES) or is_manifest(path):
        return None
    try:
        with open(path, "rb") as f:
            raw = f.read(_PEEK_BYTES + 1)
        text = raw[:_PEEK_BYTES].decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if len(raw) > _PEEK_BYTES:  # too big to parse for a peek: look for the keys at the top level
        return None if _KEY_LINE.search(text) else _NOT_A_TIMELINE
    try:
        data = load_limited(text, str(path), is_json=path.suffix.lower() == ".json")
    except Exception:  # not YAML/JSON we can read (or over a limit): judged as a timeline  # noqa: BLE001
        return None
    if isinstance(data, dict) and _KEYS & set(map(str, data)):
        return None
    return _NOT_A_TIMELINE


def _ignored(root: Path, patterns: list[str], path: Path) -> bool:
    import fnmatch
    import os

    rel = os.path.relpath(path, root).replace(os.sep, "/")
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(path.name, p) for p in patterns)


def _ignore_patterns(root: Path, exclude: Iterable[str]) -> list[str]:
    patterns = list(exclude)
    ignore = root / IGNORE_FILE
    if ignore.is_file():
        lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines()
        patterns += [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    return patterns


def discover(spec: str, *, base: Path | None = None, exclude: Iterable[str] = (),
             notes: list[str] | None = None) -> tuple[Path, list[Path]]:
    """Expand one path/folder/glob into ``(root, timelines)``.

    A file named on its own is always returned; files found in folders and globs are kept
    when they are timelines (see :func:`timeline_kind`) and match no ``exclude`` glob nor a
    pattern of ``ROOT/.lyriaignore``. Each skipped file adds a line to ``notes``.
    """
    root, files = expand_paths(spec, TIMELINE_SUFFIXES, base=base)
    if len(files) == 1 and Path(spec if base is None else base / spec) == files[0]:
        return root, files
    patterns = _ignore_patterns(root, exclude)
    kept = []
    for f in files:
        why = "excluded" if _ignored(root, patterns, f) else timeline_kind(f)
        if why is None:
            kept.append(f)
        elif notes is not None:
            notes.append(f"skipped {f.as_posix()}: {why}")
    return root, kept


def find_timelines(paths: Iterable[str | Path], *, exclude: Iterable[str] = (),
                   notes: list[str] | None = None) -> list[Path]:
    """Expand files, folders (recursive) and globs into a sorted, de-duplicated list of timelines.

    Raises:
        UsageError: a path that does not exist or a glob that matches nothing.
    """
    found: dict[Path, None] = {}
    for raw in paths:
        found.update(dict.fromkeys(discover(str(raw), exclude=exclude, notes=notes)[1]))
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


def validate_paths(paths: Iterable[str | Path], *, exclude: Iterable[str] = (),
                   notes: list[str] | None = None) -> list[ValidationResult]:
    """Validate every timeline under ``paths`` and return one result per file (never raises for content).

    Render manifests are not validated: their result has ``skipped`` set.
    """
    results = []
    for path in find_timelines(paths, exclude=exclude, notes=notes):
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
