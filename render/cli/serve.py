"""``lyria-render serve``: a local Lyria RealTime stand-in over the offline engine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError

app = typer.Typer()

_FAULTS = "Faults (all sessions unless --only-connections/--first-connections)"


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to bind. Only loopback unless you ask.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 8443,
    pace: Annotated[str, typer.Option(help="realtime (about 1x, like the service) or fast.")] = "realtime",
    chunk_s: Annotated[float, typer.Option("--chunk-s", help="Seconds of audio per chunk (service: 2).")] = 2.0,
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
) -> None:
    """Serve Lyria RealTime's music protocol locally (TLS WebSockets), backed by the offline engine.

    The google-genai SDK and `lyria-render render --backend lyria` connect to it
    unmodified: point them at the printed base URL and trust the printed CA
    certificate. Runs in the foreground until Ctrl-C (or SIGTERM). Close codes as
    the service: 1007 for malformed messages (reason names the field), 1008 for a
    bad key or quota, 1011 for the session limit; faults come from flags and/or
    --faults FILE (YAML/JSON list of plans, each with only_connections/first_connections).

    \b
    Example:
      lyria-render serve --port 0 --pace fast --ready-file serve.json
      lyria-render serve --drop-after-chunks 3 --only-connections 1
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
    )
    if not flag_plan.is_empty():
        plans.append(flag_plan)
    options = ServerOptions(
        host=host, port=port, pace=pace, chunk_s=chunk_s, require_key=require_key,  # type: ignore[arg-type]
        faults=tuple(plans), state_dir=state_dir, cert=cert, key=key, ready_file=ready_file,
    )
    try:
        asyncio.run(serve_forever(options, on_ready=lambda server: _announce(server, len(plans))))
    except KeyboardInterrupt:
        pass
    typer.echo("lyria-render serve: stopped", err=True)


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
        f"  pace {info['pace']}, {info['chunk_s']} s chunks, {plan_count} fault plan(s)",
        f"  CA certificate: {info['ca_cert']}",
        f"  lyria-render:   --backend lyria --base-url {info['base_url']} --ca-cert {info['ca_cert']}",
        f"  any SDK client: SSL_CERT_FILE={info['ca_cert']} and "
        f"http_options={{'base_url': '{info['base_url']}', 'api_version': 'v1alpha'}}",
        "  Ctrl-C to stop",
    ]
    typer.echo("\n".join(lines), err=True)
    typer.echo(json.dumps(info))
