"""``lyria-render serve``: a local Lyria RealTime stand-in over the offline engine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import EXIT_INTERRUPTED, UsageError
from .options import SoundFont

app = typer.Typer()

_FAULTS = "Faults (all sessions unless --only-connections/--first-connections)"
_PROFILE = "Realism (--profile measured sets all; each flag overrides one part)"


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to bind. Only loopback unless you ask.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 8443,
    pace: Annotated[str, typer.Option(help="realtime (about 1x, like the service) or fast.")] = "realtime",
    chunk_s: Annotated[float, typer.Option("--chunk-s", help="Seconds of audio per chunk (service: 2).")] = 2.0,
    soundfont: SoundFont = None,
    require_key: Annotated[
        Optional[str],
        typer.Option(envvar="LYRIA_SERVE_REQUIRE_KEY", help="Refuse (close 1008) clients without this API key."),
    ] = None,
    state_dir: Annotated[Optional[Path], typer.Option(help="Where ca.pem and server.pem go (default: temp dir).")] = None,
    cert: Annotated[Optional[Path], typer.Option(help="Serve this PEM certificate chain instead of a local CA.")] = None,
    key: Annotated[Optional[Path], typer.Option(help="Private key of --cert.")] = None,
    ready_file: Annotated[
        Optional[Path], typer.Option(help="Write {host, port, base_url, ca_cert, ws_url} JSON here when listening.")
    ] = None,
    faults: Annotated[Optional[Path], typer.Option(help="Fault plans file (YAML or JSON).", rich_help_panel=_FAULTS)] = None,
    only_connections: Annotated[
        Optional[str], typer.Option(help="Comma-separated connection numbers the fault flags target, e.g. 1,3.", rich_help_panel=_FAULTS)
    ] = None,
    first_connections: Annotated[Optional[int], typer.Option(help="Fault flags target connections 1..N.", rich_help_panel=_FAULTS)] = None,
    session_limit_s: Annotated[Optional[float], typer.Option(help="Close 1011 after this much audio (see --session-limit-clock).", rich_help_panel=_FAULTS)] = None,
    session_limit_clock: Annotated[str, typer.Option(help="audio (seconds sent) or wall (since setup).", rich_help_panel=_FAULTS)] = "audio",
    drop_after_chunks: Annotated[Optional[int], typer.Option(help="Drop the connection after N chunks.", rich_help_panel=_FAULTS)] = None,
    drop_code: Annotated[Optional[int], typer.Option(help="Close with this code instead of an abrupt drop (1006).", rich_help_panel=_FAULTS)] = None,
    stall_after_chunks: Annotated[Optional[int], typer.Option(help="Stall after chunk K...", rich_help_panel=_FAULTS)] = None,
    stall_s: Annotated[float, typer.Option(help="...for this many seconds.", rich_help_panel=_FAULTS)] = 0.0,
    bad_chunk_at: Annotated[Optional[int], typer.Option(help="Corrupt chunk K (1-based).", rich_help_panel=_FAULTS)] = None,
    bad_chunk: Annotated[str, typer.Option(help="wrong_mime or partial_frame.", rich_help_panel=_FAULTS)] = "wrong_mime",
    filter_word: Annotated[
        Optional[list[str]], typer.Option(help="Filter prompts containing this word (repeatable).", rich_help_panel=_FAULTS)
    ] = None,
    refuse_setup: Annotated[bool, typer.Option(help="Refuse sessions at setup (1008 quota).", rich_help_panel=_FAULTS)] = False,
    refuse_after_connections: Annotated[
        Optional[int], typer.Option(help="Accept N connections, refuse later ones (1008 quota).", rich_help_panel=_FAULTS)
    ] = None,
    start_latency_s: Annotated[float, typer.Option(help="Delay first audio after PLAY.", rich_help_panel=_FAULTS)] = 0.0,
    change_latency_s: Annotated[float, typer.Option(help="Apply control changes this late.", rich_help_panel=_FAULTS)] = 0.0,
    send_format: Annotated[Optional[str], typer.Option(help="Send audio as this mime type, e.g. 'audio/pcm;rate=24000;channels=1' or audio/wav.", rich_help_panel=_FAULTS)] = None,
    warn_every_s: Annotated[Optional[float], typer.Option(help="Send a warning message every N s.", rich_help_panel=_FAULTS)] = None,
    no_audio: Annotated[bool, typer.Option(help="Never send audio.", rich_help_panel=_FAULTS)] = False,
    error_before_close: Annotated[bool, typer.Option(help="Send {\"error\": ...} before fault closes and refusals.", rich_help_panel=_FAULTS)] = False,
    engine: Annotated[str, typer.Option(help="offline (music) or tone (a cheap sine, for load tests).")] = "offline",
    profile: Annotated[str, typer.Option(help="none, or measured: the service as measured (LYRIA.md).", rich_help_panel=_PROFILE)] = "none",
    time_scale: Annotated[Optional[float], typer.Option(help="Multiply every wall-clock duration (0.01 = 100x faster, same proportions).", rich_help_panel=_PROFILE)] = None,
    profile_seed: Annotated[Optional[int], typer.Option(help="Seed of the profile's random draws.", rich_help_panel=_PROFILE)] = None,
    start_latency_median_s: Annotated[Optional[float], typer.Option(help="First audio after PLAY: lognormal median (measured 2.9).", rich_help_panel=_PROFILE)] = None,
    start_latency_max_s: Annotated[Optional[float], typer.Option(help="...clipped to this (measured 10.9).", rich_help_panel=_PROFILE)] = None,
    pace_min: Annotated[Optional[float], typer.Option(help="Slowest per-minute rate, audio s per wall s (measured 0.77).", rich_help_panel=_PROFILE)] = None,
    pace_max: Annotated[Optional[float], typer.Option(help="Fastest per-minute rate (measured 1.03).", rich_help_panel=_PROFILE)] = None,
    gap_per_minute: Annotated[Optional[float], typer.Option(help="Chance per minute of audio of a long gap.", rich_help_panel=_PROFILE)] = None,
    gap_max_s: Annotated[Optional[float], typer.Option(help="Longest gap (measured 17).", rich_help_panel=_PROFILE)] = None,
    stagger_s: Annotated[Optional[float], typer.Option(help="A session started within this of another gets filteredPrompt, no audio (measured 10).", rich_help_panel=_PROFILE)] = None,
    binary_frames: Annotated[Optional[bool], typer.Option("--binary-frames/--text-frames", help="Send binary frames.", rich_help_panel=_PROFILE)] = None,
    idle_timeout_s: Annotated[Optional[float], typer.Option(help="Close a session idle (not playing, no message) this long: 1000.", rich_help_panel=_PROFILE)] = None,
    max_connections: Annotated[Optional[int], typer.Option(help="At most N connections at once; more are closed 1013.", rich_help_panel=_PROFILE)] = None,
) -> None:
    """Serve Lyria RealTime's music protocol locally (TLS WebSockets), backed by the offline engine.

    The google-genai SDK and `lyria-render render --backend lyria` connect to it
    unmodified: point them at the printed base URL and trust the printed CA
    certificate. Runs in the foreground until Ctrl-C (or SIGTERM). Close codes as
    the service: 1007 for malformed messages (reason names the field), 1008 for a
    bad key, quota or unknown model, 1011 for the session limit; where the service's
    code is unknown: 1013 over --max-connections, 1000 for an idle timeout. Faults
    come from flags and/or --faults FILE (YAML/JSON list of plans, each with
    only_connections/first_connections). --profile measured adds: first audio about
    2.9 s after PLAY (long tail), per-minute pacing 0.77-1.03x with rare gaps up to
    17 s, a 600 s close with 1011 and no warning, filteredPrompt and no audio for a
    session started within 10 s of another, one chunk of change latency, binary
    frames, an idle timeout (330 s) and a cap of 8 connections.

    \b
    Example:
      lyria-render serve --port 0 --pace fast --ready-file serve.json
      lyria-render serve --drop-after-chunks 3 --only-connections 1
      lyria-render serve --soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2   # GM voices behind the protocol
      lyria-render render song.yaml --backend lyria \\
          --base-url https://127.0.0.1:8443 --ca-cert /tmp/lyria-serve-x/ca.pem
    """
    from ..server import FaultPlan, ServerOptions, load_fault_plans, serve_forever

    plans = list(load_fault_plans(faults)) if faults is not None else []
    flag_plan = FaultPlan(
        only_connections=_numbers(only_connections),
        first_connections=first_connections,
        session_limit_s=session_limit_s,
        session_limit_clock=session_limit_clock,  # type: ignore[arg-type]
        drop_after_chunks=drop_after_chunks,
        drop_code=drop_code,
        stall_after_chunks=stall_after_chunks,
        stall_s=stall_s,
        bad_chunk_at=bad_chunk_at,
        bad_chunk=bad_chunk,  # type: ignore[arg-type]
        filter_words=tuple(filter_word or ()),
        refuse_setup=refuse_setup,
        refuse_after_connections=refuse_after_connections,
        start_latency_s=start_latency_s,
        change_latency_s=change_latency_s,
        send_format=send_format,
        warn_every_s=warn_every_s,
        no_audio=no_audio,
        error_before_close=error_before_close,
    )
    if not flag_plan.is_empty():
        plans.append(flag_plan)
    from ..server.engine import default_engine_factory, tone_engine_factory
    from ..server.profile import realism_for

    if engine not in ("offline", "tone"):
        raise UsageError(f"--engine must be offline or tone, got {engine!r}")
    realism = realism_for(
        profile, time_scale=time_scale, seed=profile_seed, start_latency_median_s=start_latency_median_s,
        start_latency_max_s=start_latency_max_s, pace_min=pace_min, pace_max=pace_max,
        gap_per_minute=gap_per_minute, gap_max_s=gap_max_s, stagger_s=stagger_s, binary_frames=binary_frames,
        idle_timeout_s=idle_timeout_s, max_connections=max_connections)
    options = ServerOptions(
        host=host, port=port, pace=pace, chunk_s=chunk_s, require_key=require_key,  # type: ignore[arg-type]
        faults=tuple(plans), state_dir=state_dir, cert=cert, key=key, ready_file=ready_file,
        profile=profile, realism=realism,
        engine_factory=tone_engine_factory if engine == "tone" else (_bank_factory(soundfont) or default_engine_factory),
    )
    try:
        asyncio.run(serve_forever(options, on_ready=lambda server: _announce(server, len(plans))))
    except KeyboardInterrupt:
        typer.echo("lyria-render serve: stopped (interrupted)", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    typer.echo("lyria-render serve: stopped", err=True)


def _bank_factory(soundfont: Optional[Path]):  # noqa: ANN202 - a factory, or None without a bank
    """``engine_factory`` playing through ``--soundfont`` (or LYRIA_RENDER_SOUNDFONT), checked now (exit 2)."""
    import os

    from ..pipeline.job import SOUNDFONT_ENV

    path = soundfont or (Path(os.environ[SOUNDFONT_ENV]) if os.environ.get(SOUNDFONT_ENV, "").strip() else None)
    if path is None:
        return None
    from ..backends.offline import OfflineBackend

    OfflineBackend(soundfont=path)  # a bad bank fails before the server listens
    return lambda frames: OfflineBackend(chunk_frames=frames, soundfont=path)


def _numbers(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--only-connections expects numbers like 1,3; got {text!r}") from None


def _announce(server: object, plan_count: int) -> None:
    from ..server import Server

    assert isinstance(server, Server)
    info = server.ready_info()
    lines = [
        f"lyria-render serve: listening on {info['ws_url']}"
        + (f" (bound to {info['host']}: every interface)" if info["host"] in ("0.0.0.0", "::") else ""),
        f"  pace {info['pace']}, {info['chunk_s']} s chunks, profile {info['profile']}, {plan_count} fault plan(s)",
        f"  CA certificate: {info['ca_cert']}",
        f"  lyria-render:   --backend lyria --base-url {info['base_url']} --ca-cert {info['ca_cert']}",
        f"  any SDK client: SSL_CERT_FILE={info['ca_cert']} and "
        f"http_options={{'base_url': '{info['base_url']}', 'api_version': 'v1alpha'}}",
        "  Ctrl-C to stop",
    ]
    typer.echo("\n".join(lines), err=True)
    typer.echo(json.dumps(info))
