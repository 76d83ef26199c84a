"""Run one engine session on its own thread so generation never blocks the network loop.

The offline engine generates a chunk lazily inside ``receive().__anext__``, which may
take tens of milliseconds of CPU. Each connection therefore gets an :class:`EngineThread`:
a private event loop on a worker thread that owns the engine session. The server's loop
awaits calls on it through ``run_coroutine_threadsafe``, so keepalives, other clients
and pacing stay responsive.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from contextlib import AbstractAsyncContextManager
from typing import Any, AsyncIterator, Awaitable, Callable, Coroutine, TypeVar

from ..backends.base import Backend, ServerEvent, Session

__all__ = ["EngineThread", "default_engine_factory", "tone_engine_factory"]

T = TypeVar("T")


def default_engine_factory(chunk_frames: int) -> Backend:
    """The offline engine, making chunks of ``chunk_frames`` frames."""
    from ..backends.offline import OfflineBackend

    return OfflineBackend(chunk_frames=chunk_frames)


def tone_engine_factory(chunk_frames: int) -> Backend:
    """``--engine tone``: a cheap sine engine for long load tests (see :mod:`render.server.tone`)."""
    from .tone import ToneBackend

    return ToneBackend(chunk_frames)


class EngineThread:
    """An engine session living on a worker thread (async context manager).

    Args:
        backend: the backend whose ``connect()`` opens the session.
        name: thread name (shows up in debuggers and ``threading.enumerate()``).
    """

    def __init__(self, backend: Backend, *, name: str = "lyria-serve-engine") -> None:
        self._backend = backend
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._cm: AbstractAsyncContextManager[Session] | None = None
        self._session: Session | None = None
        self._events: AsyncIterator[ServerEvent] | None = None

    async def __aenter__(self) -> "EngineThread":
        self._thread.start()
        try:
            await self._run(self._open())
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._run(self._close())
        finally:
            await self._shutdown()

    async def call(self, method: str, *args: Any) -> None:
        """Await ``session.<method>(*args)`` on the engine thread."""
        assert self._session is not None

        async def invoke() -> None:
            await getattr(self._session, method)(*args)

        await self._run(invoke())

    async def next_event(self) -> ServerEvent:
        """The engine's next event (generates the next chunk).

        Raises:
            StopAsyncIteration: the engine ended its stream.
        """
        assert self._events is not None
        events = self._events

        async def step() -> ServerEvent:
            return await events.__anext__()

        return await self._run(step())

    async def _open(self) -> None:
        self._cm = self._backend.connect()
        self._session = await self._cm.__aenter__()
        self._events = self._session.receive().__aiter__()

    async def _close(self) -> None:
        # Best effort: a generation step may still be unwinding from a cancellation.
        steps: list[Callable[[], Awaitable[Any]]] = []
        if self._events is not None and hasattr(self._events, "aclose"):
            steps.append(self._events.aclose)  # type: ignore[attr-defined]
        if self._session is not None:
            steps.append(self._session.close)
        if self._cm is not None:
            cm = self._cm
            steps.append(lambda: cm.__aexit__(None, None, None))
        for step in steps:
            with contextlib.suppress(Exception):
                await step()

    async def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    async def _shutdown(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join, 10.0)
        if not self._thread.is_alive():
            self._loop.close()

