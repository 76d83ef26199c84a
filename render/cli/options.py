"""Options shared by several commands, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

#: Every environment-variable default starts with this prefix (shown in --help).
ENV_PREFIX = "LYRIA_RENDER_"


def env(name: str) -> dict[str, object]:
    """``typer.Option`` keywords for an environment-variable default ``LYRIA_RENDER_<NAME>``."""
    return {"envvar": ENV_PREFIX + name, "show_envvar": True}


FORMAT_CHOICES = ("wav", "mp3", "flac", "ogg", "opus")


def complete_formats(incomplete: str) -> list[str]:
    """Shell completion for ``--format`` (also after a comma: ``wav,m<TAB>``)."""
    head, _, last = incomplete.rpartition(",")
    prefix = head + "," if head else ""
    return [prefix + f for f in FORMAT_CHOICES if f.startswith(last.lower())]


def complete_scales(incomplete: str) -> list[str]:
    """Shell completion for ``--scale``: the enum names (friendly names are accepted too)."""
    from ..controls import SCALES

    return [s for s in SCALES if s.startswith(incomplete.upper().replace(" ", "_"))]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]
Paths = Annotated[list[str], typer.Argument(help="Timeline files, folders (searched recursively) or globs.")]
TimelinePath = Annotated[Path, typer.Argument(help="A timeline file (.yaml, .yml or .json).", dir_okay=False)]
OutDir = Annotated[Path, typer.Option("--out", "-o", help="Output folder.", **env("OUT"))]
ControlInterval = Annotated[
    Optional[float],
    typer.Option("--control-interval", help="Ramp step in seconds, 0.01 to 10 (default: the timeline's, 0.5 s).",
                 min=0.01, max=10.0),
]
SeamAlignMs = Annotated[float, typer.Option("--seam-align-ms", min=0, max=500,
                                            help="Align seams by cross-correlation within ± ms, up to 500 (0 = off).")]

# ---- Lyria connection and session options, shared by render and batch
_LYRIA = "Lyria RealTime"
ApiKeyFile = Annotated[Optional[Path], typer.Option("--api-key-file", help="File holding the Gemini API key (else GEMINI_API_KEY / GOOGLE_API_KEY). Never printed or stored.", rich_help_panel=_LYRIA)]
Model = Annotated[str, typer.Option("--model", help="Lyria model name.", rich_help_panel=_LYRIA)]
ApiVersion = Annotated[str, typer.Option("--api-version", help="API version.", rich_help_panel=_LYRIA)]
BaseUrl = Annotated[Optional[str], typer.Option("--base-url", help="Compatible server, e.g. https://127.0.0.1:8765 (lyria-render serve).", rich_help_panel=_LYRIA, **env("BASE_URL"))]
CaCert = Annotated[Optional[Path], typer.Option("--ca-cert", help="CA certificate (PEM) to trust for --base-url.", rich_help_panel=_LYRIA, **env("CA_CERT"))]
SessionLimit = Annotated[float, typer.Option("--session-limit", help="Rotate to a new session after this many seconds (the service cuts at 600).", min=2.0, rich_help_panel=_LYRIA)]
StallTimeout = Annotated[float, typer.Option("--stall-timeout", help="Reconnect when no audio arrives for this many seconds.", min=0.1, rich_help_panel=_LYRIA)]
MaxReconnects = Annotated[int, typer.Option("--max-reconnects", help="Reconnect attempts before giving up (the spool is kept).", min=0, rich_help_panel=_LYRIA)]
Strict = Annotated[bool, typer.Option("--strict", help="Fail when the service filters a prompt.", rich_help_panel=_LYRIA)]
SoundFont = Annotated[Optional[Path], typer.Option("--soundfont", dir_okay=False, help="A .sf2/.sf3 General MIDI bank the offline engine plays its instruments through (else the timeline's engine.soundfont, else LYRIA_RENDER_SOUNDFONT).")]
Exclude = Annotated[Optional[list[str]], typer.Option("--exclude", metavar="GLOB", help="Do not pick up files matching GLOB in folders (repeatable; also a .lyriaignore file in the folder).")]
BackendName = Literal["auto", "offline", "lyria"]
Backend = Annotated[BackendName, typer.Option("--backend", "-b", case_sensitive=False, help="auto (Lyria when an API key is set, else offline), offline or lyria.", **env("BACKEND"))]
Formats = Annotated[Optional[list[str]], typer.Option("--format", "-f", help="wav, mp3, flac, ogg, opus (repeat or comma-separate). Default: the timeline's.", autocompletion=complete_formats, **env("FORMAT"))]
Png = Annotated[bool, typer.Option("--png", help="Also draw NAME.png beside each output (waveform, spectrogram, loudness, events); needs lyria-render[plot].", **env("PNG"))]


def lyria_settings(api_key_file: Optional[Path], model: str, api_version: str, base_url: Optional[str],
                   ca_cert: Optional[Path]):  # noqa: ANN201 - avoid importing backends at CLI import time
    """Build :class:`render.backends.LyriaSettings` from the shared options."""
    from ..backends import LyriaSettings

    return LyriaSettings(api_key_file=api_key_file, model=model, api_version=api_version,
                         base_url=base_url, ca_cert=ca_cert)

# ---- batch: concurrent Lyria sessions (added for `batch`)
SessionStagger = Annotated[float, typer.Option("--session-stagger", help="Seconds between two Lyria session starts (sessions started closer than ~45 s apart can be refused).", min=0.0, rich_help_panel=_LYRIA)]
MaxSessions = Annotated[int, typer.Option("--max-sessions", help="Lyria sessions open at once across the batch (a session rotation briefly holds two).", min=1, rich_help_panel=_LYRIA)]
