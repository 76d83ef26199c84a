"""Plumbing for the conductor: session legs, the receive pump, the spool writer, the gate.

A *leg* is one backend session whose audio becomes one spool segment. Each leg has a
pump task that only receives and queues (it never touches the disk, so keepalive replies
are never delayed); the conductor's loop consumes the queue and hands chunks to a
:class:`SpoolWriter`, which runs the spool's blocking writes in a worker thread, in order.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import deque
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from render.backends.base import AudioChunk, Backend, Session
from render.errors import SpoolError, TransientBackendError, UsageError
from render.schedule import ControlMessage

__all__ = ["Leg", "LegEnded", "SpoolWriter", "open_session", "close_leg", "pump"]

#: Chunks queued between receive and the conductor, and between conductor and disk.
#: 32 chunks of 2 s is about 12 MB; a full queue only happens when the disk stalls for a minute.
QUEUE_CHUNKS = 32
CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class LegEnded:
    """The pump's last item: the receive iterator ended (``error`` None) or raised."""

    error: BaseException | None


@dataclass(eq=False, kw_only=True)
class Leg:
    """One session and the spool segment its audio goes to (positions in stream frames)."""

    segment: int
    reason: str
    stream_start: int
    base_epoch: int
    session: Session
    stack: AsyncExitStack
    at_sample: bool
    stop_at: int
    frames: int = 0
    pulled_frames: int = 0
    opened_wall: float = field(default_factory=time.monotonic)
    last_audio_wall: float = field(default_factory=time.monotonic)  # the stall clock: audio only
    filtered: list[str] = field(default_factory=list)  # prompts filtered since this leg's last audio
    pending: deque[tuple[int, ControlMessage, int]] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def received_end(self) -> int:
        """Stream frame just past the audio the pump has received from this leg."""
        return self.stream_start + self.pulled_frames

    @property
    def end(self) -> int:
        """Stream frame just past the audio the conductor has taken from this leg."""
        return self.stream_start + self.frames

    def wants_audio(self) -> bool:
        return self.received_end < self.stop_at

    def set_stop(self, stop_at: int) -> None:
        self.stop_at = stop_at
        self.wake.set()


async def pump(leg: Leg, inbox: asyncio.Queue[tuple[Leg, Any]],
               after_chunk: Callable[[Leg], Awaitable[None]]) -> None:
    """Receive from ``leg.session`` into ``inbox`` until cancelled; pause once ``stop_at`` is pulled.

    ``after_chunk`` runs once first, then after each chunk is queued (it sends the control
    messages the audio received has reached, so they are timed by what arrived, not what
    was processed). Its errors end the leg like receive errors.
    """
    it = leg.session.receive()
    try:
        await after_chunk(leg)  # messages already due at the start
        while True:
            if not leg.wants_audio():
                leg.wake.clear()
                await leg.wake.wait()
                continue
            try:
                event = await it.__anext__()
            except StopAsyncIteration:
                await inbox.put((leg, LegEnded(None)))
                return
            if isinstance(event, AudioChunk):
                leg.last_audio_wall = time.monotonic()
                leg.pulled_frames += event.frames
            await inbox.put((leg, event))
            if isinstance(event, AudioChunk):
                await after_chunk(leg)
            await asyncio.sleep(0)  # let the conductor run even if the backend never suspends
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # handed to the conductor, which decides retry or fail
        await inbox.put((leg, LegEnded(exc)))
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            try:
                await asyncio.wait_for(aclose(), CLOSE_TIMEOUT_S)
            except BaseException:  # noqa: BLE001 - a dying session's iterator may fail to close
                pass


async def _enter_gate(gate: Any, stack: AsyncExitStack) -> None:
    if gate is None:
        return
    if hasattr(gate, "acquire") and hasattr(gate, "release"):
        result = gate.acquire()
        if inspect.isawaitable(result):
            await result

        async def release() -> None:
            out = gate.release()
            if inspect.isawaitable(out):
                await out

        stack.push_async_callback(release)
    elif hasattr(gate, "__aenter__"):
        await stack.enter_async_context(gate)
    else:
        raise UsageError(f"session_gate {gate!r} has neither acquire()/release() nor async with support")


async def open_session(backend: Backend, gate: Any, timeout_s: float,
                       gate_timeout_s: float | None = None) -> tuple[Session, AsyncExitStack]:
    """Pass the gate, then connect, waiting at most ``timeout_s`` for the connection.

    Args:
        backend: what to connect to.
        gate: the session gate, or None.
        timeout_s: longest wait for the connection itself.
        gate_timeout_s: longest wait at the gate (None: no limit). A caller that already
            holds a session sets it, so renders waiting for each other's slots cannot deadlock.

    Returns:
        The session and the exit stack that closes it and releases the gate.
    """
    stack = AsyncExitStack()
    try:
        try:
            await asyncio.wait_for(_enter_gate(gate, stack), gate_timeout_s)
        except (TimeoutError, asyncio.TimeoutError):
            within = f" within {gate_timeout_s:g} s" if gate_timeout_s is not None else ""
            raise TransientBackendError(f"the session gate gave no slot{within}") from None
        try:
            session = await asyncio.wait_for(stack.enter_async_context(backend.connect()), timeout_s)
        except (TimeoutError, asyncio.TimeoutError):
            raise TransientBackendError(f"connecting to {backend.name} took longer than {timeout_s:g} s") from None
        except (OSError, ConnectionError) as exc:
            raise TransientBackendError(f"connecting to {backend.name} failed: {exc}") from exc
    except BaseException:
        await _aclose_quietly(stack)
        raise
    return session, stack


async def close_leg(leg: Leg, *, stop: bool = True) -> list[str]:
    """Cancel the pump, then stop and close the session; returns the errors met (never raises)."""
    errors: list[str] = []
    if leg.task is not None and not leg.task.done():
        leg.task.cancel()
        try:
            await leg.task
        except BaseException:  # noqa: BLE001 - the cancellation itself
            pass
    calls: list[Callable[[], Any]] = [leg.session.stop] if stop else []
    for call in calls + [leg.session.close]:
        try:
            await asyncio.wait_for(call(), CLOSE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the session may already be gone
            errors.append(f"{getattr(call, '__name__', 'close')}: {exc or type(exc).__name__}")
    errors += await _aclose_quietly(leg.stack)
    return errors


async def _aclose_quietly(stack: AsyncExitStack) -> list[str]:
    try:
        await asyncio.wait_for(stack.aclose(), CLOSE_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001
        return [f"disconnect: {exc or type(exc).__name__}"]
    return []


class SpoolWriter:
    """Runs spool calls one at a time, in order, in a worker thread.

    ``submit`` only waits for queue space; ``call`` also waits for (and returns) the
    result. After a failed write every later one is skipped and the next ``submit``
    raises :class:`SpoolError`.
    """

    def __init__(self, maxsize: int = QUEUE_CHUNKS) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.check()
        await self._queue.put((fn, args, kwargs, None))

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.check()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((fn, args, kwargs, fut))
        return await fut

    def check(self) -> None:
        if self._error is not None:
            raise SpoolError(f"writing the spool failed: {self._error}",
                             hint="check free disk space and permissions, then resume") from self._error

    async def drain(self) -> None:
        """Wait until everything queued is written; raise if a write failed."""
        await self._queue.join()
        self.check()

    async def close(self) -> None:
        """Write what is queued and stop the worker (never raises)."""
        if self._task is None:
            return
        if not self._task.done():
            await self._queue.put(None)
            try:
                await self._task
            except BaseException:  # noqa: BLE001
                pass
        self._task = None

    async def _loop(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item is None:
                    return
                fn, args, kwargs, fut = item
                if self._error is not None:
                    if fut is not None and not fut.done():
                        fut.set_exception(SpoolError(f"skipped after an earlier write failed: {self._error}"))
                    continue
                try:
                    result = await asyncio.to_thread(fn, *args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - reported through check()
                    self._error = exc
                    if fut is not None and not fut.done():
                        fut.set_exception(exc)
                else:
                    if fut is not None and not fut.done():
                        fut.set_result(result)
            finally:
                self._queue.task_done()
