"""The Lyria RealTime backend: our Session protocol over google-genai's live music API.

This is the only module that imports ``google.genai`` (lazily, on ``connect``), so the
offline path never needs the SDK.

TLS trust (``ca_cert``): the SDK's live *music* ``connect`` passes no SSL context to
``websockets`` (unlike live chat, it ignores ``http_options.async_client_args['ssl']``),
so the socket uses ``ssl.create_default_context()``, which reads ``SSL_CERT_FILE`` when
the context is made, during the TLS handshake. With ``ca_cert`` we therefore point
``SSL_CERT_FILE`` at a bundle (the given CA plus the CAs the process already trusted, so
other TLS connections keep working) only while the handshake runs, and restore it once
no Lyria handshake is in flight. The SDK stays unmodified.

Errors: see :mod:`render.backends.lyria_errors` (close codes mapped by their reason text).
Audio: see :mod:`render.backends.lyria_pcm` (any L16/PCM/WAV spelling, converted to 48 kHz
stereo). The SDK drops ``{"error": …}`` and ``{"warning": …}`` messages (and consumes the
first reply to ``setup`` unseen), so :class:`_Tap` keeps their text to show it.

No message ever contains the API key: every wrapped text goes through :func:`redact`, and
a logging filter scrubs it from the SDK's and websockets' debug logs (which print headers).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
import warnings
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

from render.controls import GenerationConfig, WeightedPrompt

from ..errors import AuthError, MissingExtraError, UsageError
from .base import AudioChunk, ControlSpan, FilteredPrompt, ServerEvent, ServerWarning
from .lyria_errors import AUTH_HINT, map_error
from .lyria_pcm import ChunkDecoder
from .lyria_tap import SetupReply, Tap
from .secrets import redact, redact_url, register_secret, resolve_api_key

__all__ = ["LyriaBackend", "LyriaSession", "resolve_api_key", "redact", "DEFAULT_MODEL"]

DEFAULT_MODEL = "models/lyria-realtime-exp"
class LyriaBackend:
    """Lyria RealTime through the google-genai SDK.

    Args:
        api_key: the Gemini API key (never logged or shown).
        model: the live music model.
        api_version: ``v1alpha`` (the version live music is served on) or ``v1beta``.
        base_url: another endpoint, e.g. ``https://127.0.0.1:8443`` for ``lyria-render serve``
            (the SDK forces ``wss``).
        ca_cert: a PEM CA certificate to trust for that endpoint (see module docstring).
    """

    name = "lyria"

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        api_version: str = "v1alpha",
        base_url: str | None = None,
        ca_cert: Path | None = None,
    ) -> None:
        if not api_key:
            raise AuthError("no API key for Lyria RealTime", hint=AUTH_HINT)
        if ca_cert is not None and not Path(ca_cert).is_file():
            raise UsageError(f"CA certificate {ca_cert} does not exist", hint="pass the ca.pem printed by `lyria-render serve`")
        self._api_key = api_key
        self.model = model
        self.api_version = api_version
        self.base_url = base_url
        self.ca_cert = Path(ca_cert) if ca_cert is not None else None
        register_secret(api_key)

    def __repr__(self) -> str:
        return f"LyriaBackend(model={self.model!r}, base_url={redact_url(self.base_url or '')!r})"

    def describe(self) -> dict[str, Any]:
        """Manifest facts (never the key)."""
        info: dict[str, Any] = {"name": self.name, "model": self.model, "api_version": self.api_version}
        if self.base_url:
            info["base_url"] = redact_url(self.base_url)
        return info

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator["LyriaSession"]:
        """Open a live music session (``async with backend.connect() as session``).

        Raises:
            AuthError, BackendError, TransientBackendError: see the module docstring.
        """
        genai = _import_genai()
        http_options: dict[str, Any] = {"api_version": self.api_version}
        if self.base_url:
            http_options["base_url"] = self.base_url
        client = genai.Client(api_key=self._api_key, http_options=http_options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SDK's "experimental" warning
            sdk_cm = client.aio.live.music.connect(model=self.model)
        reply = SetupReply()
        try:
            with _trusting(self.ca_cert), reply.listening():
                sdk_session = await sdk_cm.__aenter__()
        except Exception as exc:
            raise map_error(exc, self._api_key, during="connecting", said=reply.error) from None
        session = LyriaSession(sdk_session, api_key=self._api_key, said=reply.error)
        try:
            yield session
        finally:
            # Always leave the SDK's context without our exception: its generator retries
            # the connection on TypeError, which must never happen for our errors.
            session._closing = True
            with contextlib.suppress(Exception):
                await sdk_cm.__aexit__(None, None, None)


class LyriaSession:
    """One live music session (implements :class:`render.backends.base.Session`)."""

    supports_at_sample = False

    def __init__(self, sdk_session: Any, *, api_key: str, said: str | None = None) -> None:
        self._sdk = sdk_session
        self._key = api_key
        self._closing = False
        self._frames = 0
        self._decoder = ChunkDecoder()
        self._tap = Tap(said)
        ws = getattr(sdk_session, "_ws", None)
        if ws is not None and hasattr(ws, "recv"):
            self._tap.ws = ws
            sdk_session._ws = self._tap

    async def set_weighted_prompts(self, prompts: Sequence[WeightedPrompt], *, at_sample: int | None = None) -> None:
        from google.genai import types

        wire = [types.WeightedPrompt(text=p.text, weight=p.weight) for p in prompts]
        await self._send(self._sdk.set_weighted_prompts(prompts=wire))

    async def set_music_generation_config(self, config: GenerationConfig, *, at_sample: int | None = None) -> None:
        await self._send(self._sdk.set_music_generation_config(config=to_sdk_config(config)))

    async def play(self) -> None:
        await self._send(self._sdk.play())

    async def pause(self) -> None:
        await self._send(self._sdk.pause())

    async def stop(self) -> None:
        await self._send(self._sdk.stop())

    async def reset_context(self, *, at_sample: int | None = None) -> None:
        await self._send(self._sdk.reset_context())

    async def close(self) -> None:
        """Close the stream; a pending ``receive()`` then ends cleanly."""
        self._closing = True
        with contextlib.suppress(Exception):
            await self._sdk.close()

    async def receive(self) -> AsyncIterator[ServerEvent]:
        """Events from the service until it closes (see module docstring for errors)."""
        messages = self._sdk.receive()
        while True:
            try:
                message = await messages.__anext__()
            except StopAsyncIteration:
                return
            except Exception as exc:
                if self._closing:
                    return
                raise map_error(exc, self._key, during="receiving", said=self._tap.error) from None
            for event in self._events(message):
                yield event

    def _events(self, message: Any) -> list[ServerEvent]:
        events: list[ServerEvent] = []
        content = message.server_content
        for chunk in (content.audio_chunks or []) if content is not None else []:
            if chunk.data:
                events.append(self._audio(chunk))
        if message.filtered_prompt is not None:
            fp = message.filtered_prompt
            events.append(FilteredPrompt(text=fp.text or "", reason=fp.filtered_reason or ""))
        notes = self._tap.take_notes()
        if not events and content is None and message.filtered_prompt is None and message.setup_complete is None:
            notes = notes or ["the server sent a message the SDK could not parse (e.g. a warning)"]
        events.extend(ServerWarning(message=redact(n, self._key)) for n in notes)
        return events

    def _audio(self, chunk: Any) -> AudioChunk:
        pcm, received = self._decoder.decode(chunk.data, chunk.mime_type)
        start = self._frames
        self._frames += len(pcm) // 4
        return AudioChunk(pcm=pcm, start_sample=start, spans=_spans(chunk.source_metadata, start),
                          info={"received": received})

    async def _send(self, coro: Any) -> None:
        try:
            await coro
        except Exception as exc:
            raise map_error(exc, self._key, during="sending", said=self._tap.error) from None


def to_sdk_config(config: GenerationConfig) -> Any:
    """Our complete config as ``google.genai.types.LiveMusicGenerationConfig``."""
    from google.genai import types

    return types.LiveMusicGenerationConfig(**{k: v for k, v in config.as_dict().items() if v is not None})


def _spans(metadata: Any, start: int) -> tuple[ControlSpan, ...]:
    """What ``sourceMetadata`` says, defensively: it is optional and may be partial."""
    try:
        return _spans_of(metadata, start)
    except Exception:  # noqa: BLE001 - unexpected metadata is no reason to lose audio
        return ()


def _spans_of(metadata: Any, start: int) -> tuple[ControlSpan, ...]:
    if metadata is None:
        return ()
    prompts = None
    content = metadata.client_content
    if content is not None and content.weighted_prompts:
        prompts = tuple(
            WeightedPrompt(text=p.text or "", weight=1.0 if p.weight is None else float(p.weight))
            for p in content.weighted_prompts
        )
    config, present = None, None
    if metadata.music_generation_config is not None:
        raw = metadata.music_generation_config.model_dump(exclude_none=True, mode="json")
        config = GenerationConfig.from_wire(raw)
        present = frozenset(k for k in raw if k in GenerationConfig.field_names())
        if not present:
            config = None
    if prompts is None and config is None:
        return ()
    return (ControlSpan(start_sample=start, prompts=prompts, config=config, epoch=None, config_fields=present),)


_env_lock = threading.Lock()
_env_users = 0
_env_saved: str | None = None
_env_bundle: Path | None = None


@contextlib.contextmanager
def _trusting(ca_cert: Path | None) -> Any:
    """Point ``SSL_CERT_FILE`` at ``ca_cert`` plus the default CAs while a handshake runs.

    The bundle is a temp file that lives only while a handshake is in flight: the last
    handshake to finish restores ``SSL_CERT_FILE`` and removes it.
    """
    global _env_users, _env_saved, _env_bundle
    if ca_cert is None:
        yield
        return
    with _env_lock:
        if _env_users == 0:
            _env_saved = os.environ.get("SSL_CERT_FILE")
            _env_bundle = _bundle(ca_cert, _env_saved)
            os.environ["SSL_CERT_FILE"] = str(_env_bundle)
        _env_users += 1
    try:
        yield
    finally:
        with _env_lock:
            _env_users -= 1
            if _env_users == 0:
                if _env_saved is None:
                    os.environ.pop("SSL_CERT_FILE", None)
                else:
                    os.environ["SSL_CERT_FILE"] = _env_saved
                if _env_bundle is not None:
                    _env_bundle.unlink(missing_ok=True)
                    _env_bundle = None


def _bundle(ca_cert: Path, previous: str | None) -> Path:
    """A temp PEM bundle: ``ca_cert`` plus the CA file the process trusted before."""
    import tempfile

    default = previous or ssl.get_default_verify_paths().cafile
    parts = [ca_cert.read_text(encoding="ascii")]
    if default and Path(default).is_file():
        parts.append(Path(default).read_text(encoding="ascii", errors="ignore"))
    handle, name = tempfile.mkstemp(prefix="lyria-render-ca-", suffix=".pem")
    with os.fdopen(handle, "w", encoding="ascii", errors="ignore") as f:
        f.write("\n".join(parts))
    return Path(name)


def _import_genai() -> Any:
    try:
        from google import genai
    except ImportError:
        raise MissingExtraError(
            "the Lyria backend needs the google-genai package",
            hint="pip install 'lyria-render[lyria]' (or use --backend offline)",
        ) from None
    return genai
