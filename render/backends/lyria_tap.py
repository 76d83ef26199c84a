"""Keeping the text of messages the google-genai SDK drops.

The SDK's ``LiveMusicServerMessage`` has no error or warning field, so ``{"error": …}``
and ``{"warning": …}`` arrive as all-``None`` messages, and the first reply to ``setup``
is consumed inside ``connect`` (only logged at INFO). :class:`Tap` wraps the session's
socket to read those texts as they pass; :class:`SetupReply` catches the logged reply.
Both rely on SDK internals present in google-genai 1.62 and 3.6 (``_ws`` and the
``google_genai.live_music`` logger) and fall back silently without them.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

__all__ = ["Tap", "SetupReply"]

_SDK_LOG = "google_genai.live_music"


class Tap:
    """Stands in for the SDK session's socket: passes frames through, keeping the text of
    ``{"error": …}`` and ``{"warning": …}`` messages the SDK would drop."""

    def __init__(self, said: str | None) -> None:
        self.ws: Any = None
        self.error = said
        self._notes: list[str] = []

    async def recv(self, *args: Any, **kwargs: Any) -> Any:
        raw = await self.ws.recv(*args, **kwargs)
        head = raw[:24] if isinstance(raw, (bytes, str)) else b""
        if b"erverContent" not in _as_bytes(head) and b"erver_content" not in _as_bytes(head):
            self._note(raw)
        return raw

    def _note(self, raw: Any) -> None:
        text = _message_text(raw)
        if text is None:
            return
        kind, said = text
        if kind == "error":
            self.error = said
        self._notes.append(said if kind == "warning" else f"error: {said}")

    def take_notes(self) -> list[str]:
        notes, self._notes = self._notes, []
        return notes

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ws, name)


def _as_bytes(data: Any) -> bytes:
    return data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)


def _message_text(raw: Any) -> tuple[str, str] | None:
    """``("error"|"warning", text)`` of a message that carries one, else None."""
    try:
        data = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    for kind in ("error", "warning"):
        value = data.get(kind)
        if isinstance(value, dict):
            parts = [str(value.get(k)) for k in ("message", "status", "code") if value.get(k) not in (None, "")]
            return kind, " / ".join(parts) or json.dumps(value)[:300]
        if value not in (None, ""):
            return kind, str(value)[:1000]
    return None


class SetupReply(logging.Handler):
    """Catches the SDK's INFO log of the reply to ``setup`` (its only trace) to keep an error's text."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.error: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, (bytes, str)):
            text = _message_text(record.msg)
            if text is not None and text[0] == "error":
                self.error = text[1]

    @contextlib.contextmanager
    def listening(self) -> Any:
        logger = logging.getLogger(_SDK_LOG)
        level = logger.level
        logger.addHandler(self)
        if not logger.isEnabledFor(logging.INFO):
            logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)
