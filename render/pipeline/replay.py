"""``render --from-manifest``: re-render what a manifest describes.

The timeline is taken from the manifest's ``timeline.text`` (exactly as it was loaded),
the options from ``options`` and ``overrides``, the backend from ``backend.name``. The
offline engine gives identical audio (and identical WAV/FLAC/MP3 bytes); Lyria does not
(the service is not deterministic).

Nothing read from a manifest is used as a path: the timeline comes from its text, and
the only file read is the manifest itself.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from render.errors import UsageError
from render.timeline.loader import LoadedTimeline, parse_timeline

from .job import KEEP, RenderOptions
from .manifest import MANIFEST_VERSION

__all__ = ["load_manifest", "from_manifest"]

_NUMBERS = {"control_interval_s": (0.01, 10.0), "session_limit_s": (1.0, 86_400.0), "stall_timeout_s": (0.1, 3600.0),
            "max_reconnects": (0, 1000), "seam_align_ms": (0.0, 1000.0)}


def _bad(path: Path, field: str, what: str) -> UsageError:
    return UsageError(f"{path}: {field}: {what}", hint="give a manifest written by `lyria-render render`")


def load_manifest(path: str | Path) -> dict[str, Any]:
    """Read and check a manifest file's shape (a JSON object of this tool's version)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{p}: cannot read the manifest: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"{p}: not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("manifest_version") != MANIFEST_VERSION:
        raise _bad(p, "manifest_version", f"not a version {MANIFEST_VERSION} render manifest")
    tl = data.get("timeline")
    if not isinstance(tl, dict) or not isinstance(tl.get("text"), str) or tl.get("syntax") not in ("yaml", "json"):
        raise _bad(p, "timeline", "needs the timeline's text and syntax (manifests before --from-manifest lack them)")
    if data.get("dry_run"):
        raise _bad(p, "dry_run", "a dry run's manifest describes no render")
    return data


def _number(p: Path, options: Mapping[str, Any], name: str) -> Any:
    value = options.get(name)
    lo, hi = _NUMBERS[name]
    if value is None and name == "control_interval_s":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not lo <= value <= hi:
        raise _bad(p, f"options.{name}", f"{value!r} is not a number from {lo} to {hi}")
    return int(value) if name == "max_reconnects" else float(value)


def _overrides(p: Path, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _bad(p, "overrides", "must be an object")
    out: dict[str, Any] = {}
    for name in ("formats", "stems"):
        if name in raw:
            if not isinstance(raw[name], list) or not all(isinstance(v, str) for v in raw[name]):
                raise _bad(p, f"overrides.{name}", "must be a list of names")
            out[name] = tuple(raw[name])
    if "seed" in raw:
        if isinstance(raw["seed"], bool) or not isinstance(raw["seed"], int):
            raise _bad(p, "overrides.seed", "must be an integer")
        out["seed"] = raw["seed"]
    if "name" in raw:
        if not isinstance(raw["name"], str):
            raise _bad(p, "overrides.name", "must be a string")
        out["name"] = raw["name"]
    if "loudness_lufs" in raw:
        value = raw["loudness_lufs"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _bad(p, "overrides.loudness_lufs", "must be a number or null")
        out["loudness_lufs"] = value
    return out


def from_manifest(path: str | Path, **changes: Any) -> tuple[LoadedTimeline, RenderOptions]:
    """The timeline and options a manifest describes; ``changes`` replace options (e.g. ``backend``).

    Raises:
        UsageError: the file is not a usable manifest (exit code 2).
        TimelineError: its timeline text no longer validates.
    """
    p = Path(path)
    data = load_manifest(p)
    tl = data["timeline"]
    loaded = parse_timeline(tl["text"], source=f"{p}#timeline", is_json=tl["syntax"] == "json")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,120}", name):
        raise _bad(p, "name", f"{name!r} is not a plain file name stem")
    if not loaded.timeline.output.name:  # the name came from the timeline's file name: a stand-in, never read
        loaded.path = p.parent / f"{name}.{tl['syntax']}"
    options = data.get("options")
    if not isinstance(options, dict):
        raise _bad(p, "options", "must be an object")
    backend = data["backend"].get("backend") if isinstance(data.get("backend"), dict) else None
    if backend not in ("offline", "lyria"):
        raise _bad(p, "backend.backend", f"{backend!r} is not offline or lyria")
    kwargs: dict[str, Any] = {name: _number(p, options, name) for name in _NUMBERS}
    kwargs.update(backend=backend, strict=bool(options.get("strict", False)), loudness_lufs=KEEP)
    kwargs.update(_overrides(p, data.get("overrides", {})))
    kwargs.update(changes)
    model = options.get("model")
    if backend == "lyria" and "lyria" in kwargs and isinstance(model, str) and re.fullmatch(r"[\w./-]{1,200}", model):
        kwargs["lyria"] = replace(kwargs["lyria"], model=model)  # the model the manifest was rendered with
    return loaded, RenderOptions(**kwargs)
