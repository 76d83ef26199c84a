"""The render manifest: everything needed to reproduce and audit a render.

Written as ``NAME.manifest.json`` beside the audio (:func:`render.files.manifest_path`). It
never contains the API key: backends describe themselves without secrets, and
:func:`build_manifest` only copies fields.
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from importlib import metadata
from typing import TYPE_CHECKING, Any, Mapping

from render.files import jsonable
from render.schedule import schedule_dict
from render.version import __version__

if TYPE_CHECKING:
    from .job import Prepared

__all__ = ["MANIFEST_VERSION", "jsonable", "build_manifest", "software_versions", "event_table"]

MANIFEST_VERSION = 1
_PACKAGES = ("numpy", "scipy", "soundfile", "pyloudnorm", "mutagen", "pydantic", "google-genai", "websockets")



def software_versions() -> dict[str, str | None]:
    """Versions of the tool, Python, libsndfile and the libraries that shape the audio."""
    out: dict[str, str | None] = {"lyria-render": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
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


def build_manifest(
    prepared: "Prepared",
    *,
    conduct: Any,
    finish: Any,
    timings: Mapping[str, float],
    dry_run: bool = False,
    resumed: bool = False,
) -> dict[str, Any]:
    """Assemble the manifest dict (see module docstring)."""
    tl = prepared.loaded.timeline
    conduct_d = jsonable(conduct) if conduct is not None else None
    finish_d = jsonable(finish) if finish is not None else None
    effective = (conduct_d or {}).get("events", []) if isinstance(conduct_d, dict) else []
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "name": prepared.name,
        "dry_run": dry_run,
        "job_hash": prepared.job_hash,
        "audio_hash": prepared.audio_hash,
        "software": software_versions(),
        "timeline": {
            "source": prepared.loaded.source,
            "sha256": prepared.loaded.sha256,
            "title": tl.title,
            "content": tl.model_dump(mode="json"),
            "warnings": [w.format() for w in prepared.loaded.warnings],
        },
        "backend": {**jsonable(prepared.backend.describe()), "reason": prepared.backend_reason},
        "seed": tl.seed,
        "options": _options(prepared),
        "schedule": schedule_dict(prepared.schedule),
        "events": event_table(prepared, effective),
        "render": _render_section(conduct_d, resumed),
        "master": _master_section(finish_d),
        "files": (finish_d or {}).get("files", []),
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    return manifest


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
