"""One client connection of ``serve``: setup, control pass-through, paced audio, faults.

Three tasks run per connection once ``setupComplete`` is sent: the *reader* parses client
frames, the *control* task forwards prompt/config/reset changes to the engine (late, with
``change_latency_s``) and the *streamer* pulls chunks from the engine and sends them when
due. Whichever ends first (client gone, fault, protocol violation) ends the others.

Refusals mirror what the service is known to do: a wrong/missing API key, a quota
refusal or an unknown model close with **1008** right after ``setup``; the session limit
closes with **1011**; see :mod:`render.server.protocol` for malformed messages (1007) and
:mod:`render.server.profile` for the measured profile's idle (1000) and cap (1013) closes.
The streaming half (pacing, faults, profile) is :mod:`render.server.stream`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from render.audio import SAMPLE_RATE
from render.backends.base import Backend
from render.controls import GenerationConfig, WeightedPrompt

from ..errors import RenderError
from . import protocol as wire
from .encode import Encoder
from .engine import EngineThread
from .faults import FaultPlan
from .profile import Pacer, Realism
from .stream import Streaming

__all__ = ["StreamSettings", "MusicConnection"]

log = logging.getLogger("render.server")

SETUP_TIMEOUT_S = 30.0
STAGGER_REASON = "The prompt was filtered: this session started too soon after another one (serve profile)."


@dataclass(frozen=True, kw_only=True)
class StreamSettings:
    """Per-server settings every connection shares.

    Attributes:
        pace: ``realtime`` sends each chunk when due (about 1x); ``fast`` as fast as possible.
        chunk_frames: frames per chunk the engine makes (96 000 = 2 s like the service).
        require_key: if set, the ``x-goog-api-key`` header (or ``?key=``) must equal it.
        realism: the profile's server-wide behaviours.
    """

    pace: Literal["realtime", "fast"] = "realtime"
    chunk_frames: int = 96_000
    require_key: str | None = None
    realism: Realism = field(default_factory=Realism)


class MusicConnection(Streaming):
    """Serve one WebSocket connection (see module docstring).

    Args:
        ws: the accepted connection.
        number: 1-based connection number (for fault targeting and logs).
        plan: the faults merged for this connection.
        settings: shared stream settings.
        backend: the engine backend; one session is opened for this connection.
        on_play: called at the first PLAY; returns True when the session started too soon
            after another (the stagger filter).
    """

    def __init__(
        self, ws: ServerConnection, *, number: int, plan: FaultPlan, settings: StreamSettings, backend: Backend,
        on_play: Callable[[], bool] | None = None,
    ) -> None:
        self._ws = ws
        self._number = number
        self._plan = plan
        self._settings = settings
        self._backend = backend
        self._engine: EngineThread | None = None
        self._loop = asyncio.get_running_loop()
        self._prompts: tuple[WeightedPrompt, ...] = ()
        self._config = GenerationConfig()
        self._has_prompts = asyncio.Event()
        self._playing = asyncio.Event()
        self._controls: asyncio.Queue[tuple[float, Callable[[], Awaitable[None]]]] = asyncio.Queue()
        self._origin_s = 0.0  # loop time at which stream frame 0 is due
        self._not_before_s = 0.0  # no audio before this loop time (start latency)
        self._played = False
        self._stop_epoch = 0
        self._sent_frames = 0
        self._sent_chunks = 0
        self._on_play_cb = on_play
        self._too_soon = False
        self._rng = random.Random(settings.realism.seed * 100_003 + number)
        self._pacer = Pacer(settings.realism, self._rng) if settings.realism.paced else None
        self._encoder = Encoder(plan.send_format) if plan.send_format else None
        self._last_client_s = self._loop.time()

    async def run(self) -> None:
        """Handle the connection until the client leaves or a fault ends it."""
        try:
            if not await self._handshake():
                return
            async with EngineThread(self._backend, name=f"lyria-serve-engine-{self._number}") as engine:
                self._engine = engine
                await self._run_tasks()
        except ConnectionClosed:
            pass
        except Exception as exc:  # the engine failed: tell the client like the service would
            log.exception("connection %d: internal error", self._number)
            await self._close(wire.CLOSE_SERVER_ERROR, f"Internal error: {type(exc).__name__}: {exc}")

    async def _run_tasks(self) -> None:
        coros = [self._read_loop(), self._control_loop(), self._stream_loop()]
        if self._plan.session_limit_s is not None and self._plan.session_limit_clock == "wall":
            coros.append(self._wall_limit(self._plan.session_limit_s))
        if self._plan.warn_every_s:
            coros.append(self._warn_loop(self._plan.warn_every_s))
        if self._settings.realism.idle_timeout_s:
            coros.append(self._idle_loop(self._settings.realism.idle_timeout_s * self._settings.realism.time_scale))
        tasks = [asyncio.create_task(c) for c in coros]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, ConnectionClosed):
                raise result

    # -- setup -----------------------------------------------------------------------------

    async def _handshake(self) -> bool:
        try:
            raw = await asyncio.wait_for(self._ws.recv(), SETUP_TIMEOUT_S)
        except TimeoutError:
            await self._close(wire.CLOSE_POLICY, f"No setup message within {SETUP_TIMEOUT_S:.0f} s")
            return False
        try:
            message = wire.parse_client_message(raw)
        except wire.Violation as v:
            await self._close(v.code, v.reason)
            return False
        if not isinstance(message, wire.Setup):
            await self._close(wire.CLOSE_INVALID, "The first message must be setup, e.g. {\"setup\": {\"model\": ...}}")
            return False
        refusal = self._refusal(message.model)
        if refusal:
            log.info("connection %d: refused: %s", self._number, refusal)
            if self._plan.error_before_close:
                await self._send(wire.error_message(wire.CLOSE_POLICY, refusal))
            await self._close(wire.CLOSE_POLICY, refusal)
            return False
        await self._send(wire.setup_complete())
        return True

    def _refusal(self, model: str) -> str | None:
        required = self._settings.require_key
        if required is not None and _client_key(self._ws) != required:
            return "API key not valid. Please pass a valid API key."
        plan = self._plan
        if plan.refuse_setup or (
            plan.refuse_after_connections is not None and self._number > plan.refuse_after_connections
        ):
            return plan.refuse_reason
        if not model.startswith("models/lyria"):
            return f"{model} is not found for API version, or is not supported for bidiGenerateMusic."
        return None

    # -- client -> engine ------------------------------------------------------------------

    async def _read_loop(self) -> None:
        async for raw in self._ws:
            self._last_client_s = self._loop.time()
            try:
                message = wire.parse_client_message(raw)
            except wire.Violation as v:
                await self._close(v.code, v.reason)
                return
            if isinstance(message, wire.Setup):
                await self._close(wire.CLOSE_INVALID, "setup was already received on this connection")
                return
            await self._dispatch(message)

    async def _dispatch(self, message: wire.ClientMessage) -> None:
        if isinstance(message, wire.SetPrompts):
            await self._on_prompts(message.prompts)
        elif isinstance(message, wire.SetConfig):
            config = message.config
            self._defer(lambda: self._apply("set_music_generation_config", config, config=config))
        elif isinstance(message, wire.Playback):
            await self._on_playback(message.control)

    async def _on_prompts(self, prompts: tuple[WeightedPrompt, ...]) -> None:
        if not prompts:
            await self._send(wire.warning_message("weightedPrompts is empty: the update was ignored"))
            return
        kept = []
        for prompt in prompts:
            word = self._plan.filtered_word(prompt.text)
            if word is None:
                kept.append(prompt)
                continue
            reason = f"The prompt was filtered: it contains the blocked word {word!r} (serve fault injection)."
            await self._send(wire.filtered_prompt_message(prompt.text, reason))
        if kept:
            new = tuple(kept)
            self._defer(lambda: self._apply("set_weighted_prompts", list(new), prompts=new))

    async def _on_playback(self, control: str) -> None:
        """Queue a playback control behind earlier changes (only changes are delayed)."""
        if control == "PLAY":
            self._defer(self._play, delayed=False)
        elif control == "PAUSE":
            self._defer(self._pause, delayed=False)
        elif control == "STOP":
            self._defer(self._stop)
        else:
            self._defer(lambda: self._apply("reset_context"))

    async def _play(self) -> None:
        assert self._engine is not None
        now = self._loop.time()
        delay = 0.0
        if not self._played:
            delay = self._plan.start_latency_s or self._settings.realism.start_latency_s(self._rng)
            await self._stagger_filter()
        self._played = True
        self._not_before_s = now + delay
        position_s = self._pacer.wall_s if self._pacer is not None else self._sent_frames / SAMPLE_RATE
        self._origin_s = self._not_before_s - position_s
        await self._engine.call("play")
        self._playing.set()

    async def _stagger_filter(self) -> None:
        """At the first PLAY: a session started too soon after another gets every prompt filtered."""
        if self._on_play_cb is None or not self._on_play_cb():
            return
        self._too_soon = True
        log.info("connection %d: started too soon after another: prompts filtered, no audio", self._number)
        for prompt in self._prompts:
            await self._send(wire.filtered_prompt_message(prompt.text, STAGGER_REASON))

    async def _pause(self) -> None:
        assert self._engine is not None
        self._playing.clear()
        await self._engine.call("pause")

    async def _stop(self) -> None:
        assert self._engine is not None
        self._playing.clear()
        self._stop_epoch += 1
        await self._engine.call("stop")

    def _defer(self, action: Callable[[], Awaitable[None]], *, delayed: bool = True) -> None:
        """Run ``action`` on the control task, in arrival order, ``change_latency_s`` late if ``delayed``."""
        latency_s = self._plan.change_latency_s if delayed else 0.0
        self._controls.put_nowait((self._loop.time() + latency_s, action))

    async def _control_loop(self) -> None:
        while True:
            due_s, action = await self._controls.get()
            delay = due_s - self._loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await action()
            except RenderError as exc:  # the engine refused a value: an invalid argument
                await self._close(wire.CLOSE_INVALID, exc.message)
                return

    async def _apply(
        self,
        method: str,
        *args: Any,
        prompts: tuple[WeightedPrompt, ...] | None = None,
        config: GenerationConfig | None = None,
    ) -> None:
        assert self._engine is not None
        await self._engine.call(method, *args)
        if prompts is not None:
            self._prompts = prompts
            self._has_prompts.set()
        if config is not None:
            self._config = config

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._ws.close(code, wire.close_reason(reason))


def _client_key(ws: ServerConnection) -> str | None:
    """The API key the client sent: ``x-goog-api-key`` header, else a ``key`` query parameter."""
    request = ws.request
    if request is None:
        return None
    key = request.headers.get("x-goog-api-key")
    if key:
        return key
    from urllib.parse import parse_qs, urlsplit

    values = parse_qs(urlsplit(request.path).query).get("key")
    return values[0] if values else None
