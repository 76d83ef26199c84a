"""The ``serve`` server object: TLS WebSocket listener, routing, lifecycle.

Use it in-process as an async context manager (``async with Server(...) as srv``), or
from synchronous code, where it runs its own event loop on a background thread
(``with Server(...) as srv``). :func:`serve_forever` is what the CLI runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
import logging
import re
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.http11 import Request, Response

from render.audio import SAMPLE_RATE

from ..backends.base import Backend
from ..errors import UsageError
from . import protocol as wire
from .connection import MusicConnection, StreamSettings
from .engine import default_engine_factory
from .faults import FaultPlan, plan_for_connection
from .profile import CLOSE_TRY_AGAIN, Realism, profile_plan, realism_for
from .tls import TlsMaterial, cert_hosts, make_tls

__all__ = ["ServerOptions", "Server", "serve_forever"]

log = logging.getLogger("render.server")

class _KeyScrubber(logging.Filter):
    """Hides ``x-goog-api-key`` header values in websockets' debug logs of the server."""

    _header = re.compile(r"(x-goog-api-key:\s*)\S+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self._header.sub(r"\1***", message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


_ws_log = logging.getLogger("websockets.server")
_ws_log.addFilter(_KeyScrubber())

MAX_CHUNK_S = 2.5  # base64 of a longer chunk exceeds the SDK client's 1 MiB frame limit


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """Everything ``serve`` can be told.

    Attributes:
        host: address to bind (loopback unless asked otherwise).
        port: TCP port; 0 picks a free one.
        pace: ``realtime`` (about 1x, like the service) or ``fast``.
        chunk_s: seconds per chunk (the service sends 2 s).
        require_key: if set, clients must send this API key (else close 1008).
        faults: fault plans (see :class:`render.server.faults.FaultPlan`).
        state_dir: where the generated CA and server cert go (default: a temp dir).
        cert / key: serve this certificate instead of generating one.
        ready_file: write ``{host, port, base_url, ca_cert, ws_url}`` JSON here once listening.
        engine_factory: makes the engine backend from frames per chunk (default: offline).
        profile: ``none`` or ``measured`` (see :mod:`render.server.profile`): server-wide
            realism plus per-connection defaults (600 s 1011 close, one chunk of change
            latency) that ``faults`` override.
        realism: the server-wide realism; default: the profile's.
    """

    host: str = "127.0.0.1"
    port: int = 0
    pace: Literal["realtime", "fast"] = "realtime"
    chunk_s: float = 2.0
    require_key: str | None = None
    faults: tuple[FaultPlan, ...] = ()
    state_dir: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    ready_file: Path | None = None
    engine_factory: Callable[[int], Backend] = field(default=default_engine_factory)
    profile: str = "none"
    realism: Realism | None = None

    def __post_init__(self) -> None:
        if self.pace not in ("realtime", "fast"):
            raise UsageError(f"pace must be 'realtime' or 'fast', got {self.pace!r}")
        if not 0.05 <= self.chunk_s <= MAX_CHUNK_S:
            raise UsageError(
                f"chunk_s = {self.chunk_s} is outside [0.05, {MAX_CHUNK_S}]",
                hint="the service sends 2 s chunks; longer ones exceed the SDK's 1 MiB message limit",
            )
        realism_for(self.profile)  # validates the name
        if not 0 <= self.port <= 65535:
            raise UsageError(f"port {self.port} is not in 0..65535")


class Server:
    """The Lyria-protocol server over the offline engine (see module docstring).

    Args:
        options: server settings; keyword arguments override fields of it.
    """

    def __init__(self, options: ServerOptions | None = None, **overrides: Any) -> None:
        base = options or ServerOptions()
        self.options = ServerOptions(**{**base.__dict__, **overrides}) if overrides else base
        self._tls: TlsMaterial | None = None
        self._ws_server: WsServer | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._numbers = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self.connections = 0
        self.live = 0  # connections open now
        self.port = self.options.port
        opts = self.options
        self.realism = opts.realism if opts.realism is not None else realism_for(opts.profile)
        base = profile_plan(opts.profile, opts.chunk_s, self.realism.time_scale)
        self._plans = ((base,) if base is not None else ()) + tuple(opts.faults)
        self._last_play_s: float | None = None

    # -- addresses -------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self.options.host

    @property
    def base_url(self) -> str:
        """What to give the SDK (``http_options.base_url``) or ``--base-url``."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"https://{host}:{self.port}"

    @property
    def ca_cert(self) -> Path:
        """The CA certificate clients must trust (``--ca-cert`` / ``SSL_CERT_FILE``)."""
        if self._tls is None:
            raise UsageError("the server has not started yet")
        return self._tls.ca_cert

    def ready_info(self) -> dict[str, Any]:
        """Machine-readable address facts (also written to ``ready_file``)."""
        return {
            "host": self.host,
            "port": self.port,
            "base_url": self.base_url,
            "ws_url": "wss" + self.base_url[len("https"):] + "/ws/google.ai.generativelanguage.v1alpha."
            "GenerativeService.BidiGenerateMusic",
            "ca_cert": str(self.ca_cert),
            "pace": self.options.pace,
            "chunk_s": self.options.chunk_s,
            "profile": self.options.profile,
        }

    # -- async lifecycle -------------------------------------------------------------------

    async def start(self) -> "Server":
        """Bind and start listening (idempotent errors: raises if the port is taken)."""
        opts = self.options
        if not opts.host.strip():
            raise UsageError("--host '': an empty host binds every interface",
                             hint="leave --host out for loopback (127.0.0.1), or name the address, e.g. 0.0.0.0")
        state_dir = opts.state_dir
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lyria-serve-")
            state_dir = Path(self._tmp.name)
        self._tls = make_tls(state_dir=state_dir, hosts=cert_hosts(opts.host), cert=opts.cert, key=opts.key)
        try:
            self._ws_server = await ws_serve(
                self._handle, opts.host, opts.port, ssl=self._tls.context,
                process_request=_route, compression=None, max_size=2**20, logger=_ws_log,
            )
        except OSError as exc:
            raise UsageError(f"cannot listen on {opts.host}:{opts.port}: {exc.strerror or exc}",
                             hint="pick another --port, or 0 for a free one") from None
        self.port = self._ws_server.sockets[0].getsockname()[1]
        if opts.ready_file is not None:
            opts.ready_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = opts.ready_file.with_name(opts.ready_file.name + ".tmp")
            tmp.write_text(json.dumps(self.ready_info(), indent=2) + "\n", encoding="utf-8")
            tmp.replace(opts.ready_file)
        log.info("listening on %s", self.base_url)
        return self

    async def stop(self) -> None:
        """Close the listener and every open connection (close 1001)."""
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
            self._ws_server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> "Server":
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _handle(self, ws: ServerConnection) -> None:
        number = next(self._numbers)
        self.connections += 1
        cap = self.realism.max_connections
        if cap is not None and self.live >= cap:
            log.info("connection %d refused: %d connections open (cap %d)", number, self.live, cap)
            await ws.close(CLOSE_TRY_AGAIN, f"Too many concurrent sessions (at most {cap}); try again later.")
            return
        plan = plan_for_connection(self._plans, number)
        settings = StreamSettings(
            pace=self.options.pace,
            chunk_frames=round(self.options.chunk_s * SAMPLE_RATE),
            require_key=self.options.require_key,
            realism=self.realism,
        )
        backend = self.options.engine_factory(settings.chunk_frames)
        log.info("connection %d from %s", number, ws.remote_address)
        self.live += 1
        try:
            await MusicConnection(ws, number=number, plan=plan, settings=settings, backend=backend,
                                  on_play=self._too_soon).run()
        finally:
            self.live -= 1

    def _too_soon(self) -> bool:
        """The stagger filter: did this PLAY come within ``stagger_s`` of the previous session's?"""
        r = self.realism
        now = asyncio.get_running_loop().time()
        soon = r.stagger_s > 0 and self._last_play_s is not None and now - self._last_play_s < r.stagger_s * r.time_scale
        self._last_play_s = now
        return soon

    # -- background thread -----------------------------------------------------------------

    def __enter__(self) -> "Server":
        """Run the server on its own event loop in a daemon thread until ``__exit__``."""
        started = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            async def body() -> None:
                self._stop_requested = asyncio.Event()
                self._thread_loop = asyncio.get_running_loop()
                try:
                    await self.start()
                except BaseException as exc:
                    failure.append(exc)
                    started.set()
                    return
                started.set()
                try:
                    await self._stop_requested.wait()
                finally:
                    await self.stop()

            asyncio.run(body())

        self._thread = threading.Thread(target=main, name="lyria-serve", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop, stop = self._thread_loop, self._stop_requested
        if self._thread is None or stop is None or loop is None:
            return
        loop.call_soon_threadsafe(stop.set)
        self._thread.join(15.0)
        self._thread = None


def _route(connection: ServerConnection, request: Request) -> Response | None:
    """Answer HTTP 404 for any path other than BidiGenerateMusic."""
    path = request.path.split("?", 1)[0]
    if wire.PATH_RE.match(path):
        return None
    return connection.respond(
        http.HTTPStatus.NOT_FOUND,
        f"Not found: {path}\nlyria-render serve only speaks "
        "/ws/google.ai.generativelanguage.{v1alpha|v1beta}.GenerativeService.BidiGenerateMusic\n",
    )


async def serve_forever(options: ServerOptions, *, on_ready: Callable[[Server], None] | None = None) -> None:
    """Run a server until cancelled or SIGTERM (the CLI's foreground mode; Ctrl-C cancels it)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread / Windows
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with Server(options) as server:
        if on_ready is not None:
            on_ready(server)
        await stop.wait()
