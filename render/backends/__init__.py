"""Generator backends behind one session protocol (:mod:`.base`); :func:`select_backend` picks one and says why.

May import: render.errors, render.audio, render.files, render.controls (only backends/lyria.py imports google.genai).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import UsageError
from .base import Backend
from .secrets import redact_url

__all__ = ["BackendChoice", "LyriaSettings", "select_backend"]

BackendChoice = Literal["auto", "offline", "lyria"]


@dataclass(frozen=True, kw_only=True)
class LyriaSettings:
    """How to reach Lyria RealTime (or a compatible server such as ``lyria-render serve``)."""

    api_key_file: Path | None = None
    model: str = "models/lyria-realtime-exp"
    api_version: str = "v1alpha"
    base_url: str | None = None
    ca_cert: Path | None = None


def _has_genai() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("google.genai") is not None
    except (ImportError, ValueError):
        return False


def select_backend(
    choice: BackendChoice = "auto",
    lyria: LyriaSettings | None = None,
    *,
    offline_chunk_frames: int = 96_000,
    soundfont: Path | None = None,
) -> tuple[Backend, str]:
    """Build the backend for ``choice``.

    ``soundfont``: a bank the offline engine plays its instruments through (ignored by Lyria).

    Returns:
        ``(backend, reason)``: reason is a sentence for the user, e.g.
        "offline: no GEMINI_API_KEY or GOOGLE_API_KEY set".

    Raises:
        UsageError: ``lyria`` was asked for but no API key was found.
    """
    lyria = lyria or LyriaSettings()
    if choice not in ("auto", "offline", "lyria"):
        raise UsageError(f"unknown backend {choice!r}: use auto, offline or lyria")
    key = None
    if choice != "offline":
        from .secrets import resolve_api_key

        key = resolve_api_key(lyria.api_key_file)
    if choice == "lyria" and not key:
        raise UsageError(
            "--backend lyria needs an API key",
            hint="set GEMINI_API_KEY (or GOOGLE_API_KEY), or pass --api-key-file",
        )
    if key and choice == "auto" and not _has_genai():
        from .offline import OfflineBackend

        return OfflineBackend(chunk_frames=offline_chunk_frames), (
            "offline (procedural engine, not neural): warning: an API key is set but google-genai is not "
            "installed; pip install 'lyria-render[lyria]' to use Lyria")
    if key:
        from .lyria import LyriaBackend

        backend = LyriaBackend(api_key=key, model=lyria.model, api_version=lyria.api_version,
                               base_url=lyria.base_url, ca_cert=lyria.ca_cert)
        where = f" at {redact_url(lyria.base_url)}" if lyria.base_url else ""
        reason = "lyria: API key found" if choice == "auto" else "lyria: asked for"
        return backend, f"{reason}; model {lyria.model}{where}"
    from .offline import OfflineBackend

    reason = "offline (procedural engine, not neural): " + (
        "asked for" if choice == "offline" else "no GEMINI_API_KEY or GOOGLE_API_KEY set"
    )
    backend = OfflineBackend(chunk_frames=offline_chunk_frames, soundfont=soundfont)
    if backend.voices is not None:
        sf = backend.voices.describe()
        reason += f"; instruments from SoundFont {sf['name']}" + "".join(f"\n  warning: {w}" for w in sf["fallbacks"])
    return backend, reason
