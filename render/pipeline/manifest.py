"""The render manifest: everything needed to reproduce and audit a render.

Written as ``NAME.manifest.json`` beside the audio (:func:`render.files.manifest_path`). It
never contains the API key: backends describe themselves without secrets,
:func:`build_manifest` only copies fields, and the command line is stored with any key
removed. File paths are relative to the manifest's folder. ``timeline.text`` is the
timeline exactly as loaded (``render --from-manifest`` re-renders from it);
``timeline.content`` is what it set, loadable as a timeline; ``overrides`` holds the
command-line values that replaced the file's.
"""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from render.backends.secrets import redact, redact_url, resolve_api_key
from render.files import jsonable
from render.schedule import schedule_dict
from render.version import __version__

if TYPE_CHECKING:
    from .job import Prepared

__all__ = ["MANIFEST_VERSION", "jsonable", "build_manifest", "software_versions", "event_table", "redacted_command_line",
           "DETERMINISTIC_BACKENDS"]

MANIFEST_VERSION = 1
_PACKAGES = ("numpy", "scipy", "soundfile", "pedalboard", "pyloudnorm", "mutagen", "ruamel.yaml", "pydantic")
_LYRIA_PACKAGES = ("google-genai", "websockets")
#: Backends whose audio depends only on the timeline and options (same inputs, same samples).
DETERMINISTIC_BACKENDS = frozenset({"offline"})


def software_versions(backend: str | None = None) -> dict[str, str | None]:
    """Versions of the tool, Python, libsndfile and the libraries that touched the audio
    (the Lyria client's only for a Lyria render)."""
    out: dict[str, str | None] = {"lyria-render": __version__, "python": platform.python_version()}
    for name in _PACKAGES + (_LYRIA_PACKAGES if backend != "offline" else ()):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        import soundfile

        out["libsndfile"] = soundfile.__libsndfile_version__
    except Exception:  # pragma: no cover - soundfile is a dependency
        out["libsndfile"] = None
    return out


def event_table(prepared: "Prepared", effective: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per timeline event: label, requested time and the effective time seen in the audio."""
    sr = prepared.schedule.sample_rate
    eff = {int(e["index"]): e for e in effective}
    rows = []
    for timing in prepared.schedule.events:
        spec = prepared.loaded.timeline.events[timing.index]
        row: dict[str, Any] = {
            "index": timing.index,
            "label": spec.label,
            "written": timing.written,
            "bar_beat": timing.bar_beat,
            "requested_sample": timing.sample,
            "requested_s": round(timing.sample / sr, 6),
        }
        seen = eff.get(timing.index)
        if seen is not None and seen.get("applied") is False:
            row.update(effective_sample=None, estimated=True, applied=False)
        elif seen is not None and seen.get("effective_sample") is not None:
            row["effective_sample"] = int(seen["effective_sample"])
            row["effective_s"] = round(row["effective_sample"] / sr, 6)
            row["estimated"] = bool(seen.get("estimated", False))
            row["latency_s"] = round((row["effective_sample"] - timing.sample) / sr, 6)
        rows.append(row)
    return rows


def redacted_command_line(argv: Sequence[str]) -> list[str]:
    """``argv`` with the API key (from the environment), any ``--api-key`` value and secrets in URLs removed."""
    key = resolve_api_key()
    out, hide = [], False
    for arg in argv:
        out.append("***" if hide else redact_url(redact(arg, key)))
        hide = arg in ("--api-key", "--key")
        if arg.startswith(("--api-key=", "--key=")):
            out[-1] = arg.split("=", 1)[0] + "=***"
    return out


def _relative(path: str | Path, folder: Path) -> str:
    """``path`` relative to the manifest's folder (``..`` parts only when it lies outside)."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return Path(path).name


def _timeline_section(prepared: "Prepared") -> dict[str, Any]:
    original = prepared.original or prepared.loaded
    source = _relative(original.path, prepared.out_dir) if original.path else original.source
    if original.source.endswith("#timeline"):  # a replay: the timeline came from a manifest
        source = _relative(original.source.removesuffix("#timeline"), prepared.out_dir) + "#timeline"
    return {
        "source": source,
        "sha256": original.sha256,
        "title": prepared.loaded.timeline.title,
        "syntax": "yaml" if original.path is not None and original.path.suffix.lower() != ".json" else "json",
        "text": original.text,
        "content": original.timeline.model_dump(mode="json", exclude_unset=True),
        "warnings": [w.format() for w in prepared.loaded.warnings],
    }


def _overrides(prepared: "Prepared") -> dict[str, Any]:
    """The options that replaced the timeline file's own values (command line or API)."""
    o = prepared.options
    out: dict[str, Any] = {}
    for name in ("formats", "seed", "name", "stems"):
        if getattr(o, name) is not None:
            out[name] = jsonable(getattr(o, name))
    if o.loudness_lufs != "timeline":
        out["loudness_lufs"] = o.loudness_lufs
    return out


def build_manifest(
    prepared: "Prepared",
    *,
    conduct: Any,
    finish: Any,
    timings: Mapping[str, float],
    dry_run: bool = False,
    resumed: bool = False,
    tags: Mapping[str, Any] | None = None,
    stems: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Assemble the manifest dict (see module docstring)."""
    tl = prepared.loaded.timeline
    conduct_d = jsonable(conduct) if conduct is not None else None
    finish_d = jsonable(finish) if finish is not None else None
    effective = (conduct_d or {}).get("events", []) if isinstance(conduct_d, dict) else []
    backend = prepared.backend.name
    argv = prepared.options.command_line
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "name": prepared.name,
        "dry_run": dry_run,
        "job_hash": prepared.job_hash,
        "audio_hash": prepared.audio_hash,
        "software": software_versions(backend),
        "command_line": redacted_command_line(argv) if argv else None,
        "timeline": _timeline_section(prepared),
        "overrides": _overrides(prepared),
        "backend": {**jsonable(prepared.backend.describe()), "reason": prepared.backend_reason,
                    "deterministic": backend in DETERMINISTIC_BACKENDS},
        "seed": tl.seed,
        "options": _options(prepared),
        "schedule": schedule_dict(prepared.schedule),
        "events": event_table(prepared, effective),
        "render": _render_section(conduct_d, resumed),
        "master": _master_section(finish_d),
        "files": [_file_entry(f, prepared.out_dir) for f in (finish_d or {}).get("files", [])],
        "stems": [_file_entry(f, prepared.out_dir) for f in jsonable(list(stems))],
        "tags": dict(tags) if tags is not None else None,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    return manifest


def _file_entry(entry: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    return {**entry, "path": _relative(entry["path"], folder)}


def _options(prepared: "Prepared") -> dict[str, Any]:
    o = prepared.options
    return {
        "backend": o.backend,
        "strict": o.strict,
        "control_interval_s": o.control_interval_s,
        "session_limit_s": o.session_limit_s,
        "stall_timeout_s": o.stall_timeout_s,
        "max_reconnects": o.max_reconnects,
        "seam_align_ms": o.seam_align_ms,
        "model": getattr(prepared.backend, "model", None),
    }


def _render_section(conduct: Any, resumed: bool) -> dict[str, Any] | None:
    if conduct is None:
        return None
    keep = ("chunks", "sessions", "seams", "warnings", "wall_s", "received_frames", "received_formats")
    section = {k: conduct.get(k) for k in keep if k in conduct}
    section["filtered_prompts"] = conduct.get("filtered", [])
    section["resumed"] = resumed
    return section


def _master_section(finish: Any) -> dict[str, Any] | None:
    if finish is None:
        return None
    return {k: v for k, v in finish.items() if k != "files"}
