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

Error mapping (the conductor retries only :class:`TransientBackendError`):

* close 1008, HTTP 401/403/429 -> :class:`AuthError` (bad/missing key, quota, model not enabled);
* close 1007, HTTP 400/404, certificate verification failures -> :class:`BackendError`
  (a setting is wrong; retrying cannot help);
* close 1011/1006, any other close, refused connection, TLS/OS errors -> :class:`TransientBackendError`;
  a normal close (1000) we did not ask for is transient too (the session ended early);
* a close we initiated (``close()``) ends ``receive()`` cleanly.

No message ever contains the API key: every wrapped text goes through :func:`redact`, and
a logging filter scrubs it from the SDK's and websockets' debug logs (which print headers).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

from render.audio import BYTES_PER_FRAME, CHANNELS, SAMPLE_RATE
from render.controls import GenerationConfig, WeightedPrompt

from ..errors import AuthError, BackendError, MissingExtraError, ProtocolError, TransientBackendError, UsageError
from .base import AudioChunk, ControlSpan, FilteredPrompt, ServerEvent, ServerWarning
from .secrets import redact, redact_url, register_secret, resolve_api_key

__all__ = ["LyriaBackend", "LyriaSession", "resolve_api_key", "redact", "DEFAULT_MODEL"]

DEFAULT_MODEL = "models/lyria-realtime-exp"
_AUTH_HINT = (
    "check the API key (--api-key-file, GEMINI_API_KEY or GOOGLE_API_KEY), that its quota is not "
    "exhausted, and that Lyria RealTime is enabled for it"
)




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
            raise AuthError("no API key for Lyria RealTime", hint=_AUTH_HINT)
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
        try:
            with _trusting(self.ca_cert):
                sdk_session = await sdk_cm.__aenter__()
        except Exception as exc:
            raise map_error(exc, self._api_key, during="connecting") from None
        session = LyriaSession(sdk_session, api_key=self._api_key)
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

    def __init__(self, sdk_session: Any, *, api_key: str) -> None:
        self._sdk = sdk_session
        self._key = api_key
        self._closing = False
        self._frames = 0

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
                raise map_error(exc, self._key, during="receiving") from None
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
        if not events and content is None and message.filtered_prompt is None and message.setup_complete is None:
            events.append(ServerWarning(message="the server sent a message the SDK could not parse (e.g. a warning)"))
        return events

    def _audio(self, chunk: Any) -> AudioChunk:
        check_mime(chunk.mime_type)
        data: bytes = chunk.data
        if len(data) % BYTES_PER_FRAME:
            raise ProtocolError(
                f"audio chunk at frame {self._frames} has {len(data)} bytes, not a whole number of "
                f"{BYTES_PER_FRAME}-byte frames (16-bit stereo)",
                hint="the server sent a truncated chunk; retry, and report it if it persists",
            )
        start = self._frames
        self._frames += len(data) // BYTES_PER_FRAME
        return AudioChunk(pcm=data, start_sample=start, spans=_spans(chunk.source_metadata, start))

    async def _send(self, coro: Any) -> None:
        try:
            await coro
        except Exception as exc:
            raise map_error(exc, self._key, during="sending") from None


def check_mime(mime: str | None) -> None:
    """Accept ``audio/l16;rate=48000;channels=2`` (case/space-insensitive; missing = accepted).

    Raises:
        ProtocolError: another type, rate or channel count.
    """
    if mime is None:
        return
    parts = [p.strip().lower() for p in mime.split(";")]
    params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    expected = f"audio/l16;rate={SAMPLE_RATE};channels={CHANNELS}"
    if (
        parts[0] != "audio/l16"
        or params.get("rate", str(SAMPLE_RATE)) != str(SAMPLE_RATE)
        or params.get("channels", str(CHANNELS)) != str(CHANNELS)
    ):
        raise ProtocolError(
            f"unexpected audio mime type {mime!r}; expected {expected!r}",
            hint="lyria-render only handles 48 kHz stereo 16-bit PCM from Lyria RealTime",
        )


def to_sdk_config(config: GenerationConfig) -> Any:
    """Our complete config as ``google.genai.types.LiveMusicGenerationConfig``."""
    from google.genai import types

    return types.LiveMusicGenerationConfig(**{k: v for k, v in config.as_dict().items() if v is not None})


def _spans(metadata: Any, start: int) -> tuple[ControlSpan, ...]:
    if metadata is None:
        return ()
    prompts = None
    if metadata.client_content is not None and metadata.client_content.weighted_prompts is not None:
        prompts = tuple(
            WeightedPrompt(text=p.text or "", weight=1.0 if p.weight is None else float(p.weight))
            for p in metadata.client_content.weighted_prompts
        )
    config = None
    if metadata.music_generation_config is not None:
        raw = metadata.music_generation_config.model_dump(exclude_none=True, mode="json")
        config = GenerationConfig.from_wire(raw)
    if prompts is None and config is None:
        return ()
    return (ControlSpan(start_sample=start, prompts=prompts, config=config, epoch=None),)


def map_error(exc: BaseException, api_key: str, *, during: str) -> BackendError:
    """Translate an SDK / websockets / OS error into our error tree, key scrubbed."""
    code, detail = _code_and_detail(exc)
    detail = redact(detail, api_key)
    where = f"Lyria RealTime refused or ended the session while {during}"
    if code == 1008 or code in (401, 403, 429):
        return AuthError(f"{where} (code {code}): {detail}", hint=_AUTH_HINT)
    if code in (1007, 400, 404):
        return BackendError(
            f"{where} (code {code}): {detail}",
            hint="a setting was rejected: check --model, the API version and --base-url",
        )
    if code is None and _is_malformed(exc):
        return ProtocolError(f"the server sent a malformed message while {during}: {detail}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return BackendError(
            f"TLS certificate not trusted while {during}: {detail}",
            hint="pass --ca-cert with the CA that signed the server's certificate (lyria-render serve prints it)",
        )
    if code == 1000:
        return TransientBackendError(f"the service closed the session early while {during} (code 1000): {detail}")
    if code is not None:
        return TransientBackendError(f"{where} (code {code}): {detail}")
    return TransientBackendError(f"connection to Lyria RealTime failed while {during}: {type(exc).__name__}: {detail}")


def _code_and_detail(exc: BaseException) -> tuple[int | None, str]:
    from google.genai import errors as genai_errors
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    if isinstance(exc, genai_errors.APIError):
        detail = exc.message or (exc.details if isinstance(exc.details, str) else str(exc))
        return exc.code, str(detail or "no reason given")
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        if frame is None:
            return 1006, "the connection was lost without a close frame"
        return frame.code, frame.reason or "no reason given"
    if isinstance(exc, InvalidStatus):
        body = exc.response.body.decode("utf-8", "replace").strip() if exc.response.body else ""
        return exc.response.status_code, f"HTTP {exc.response.status_code} {body}".strip()
    if isinstance(exc, ValueError) and "Failed to parse response" in str(exc):
        return None, "the server sent a message that is not JSON"
    return None, str(exc) or type(exc).__name__


def _is_malformed(exc: BaseException) -> bool:
    """A message the SDK could not parse (not JSON, or fields of the wrong type)."""
    from pydantic import ValidationError

    return isinstance(exc, ValidationError) or (isinstance(exc, ValueError) and "Failed to parse response" in str(exc))


_env_lock = threading.Lock()
_env_users = 0
_env_saved: str | None = None


@contextlib.contextmanager
def _trusting(ca_cert: Path | None) -> Any:
    """Point ``SSL_CERT_FILE`` at ``ca_cert`` plus the default CAs while a handshake runs."""
    global _env_users, _env_saved
    if ca_cert is None:
        yield
        return
    with _env_lock:
        if _env_users == 0:
            _env_saved = os.environ.get("SSL_CERT_FILE")
            os.environ["SSL_CERT_FILE"] = str(_bundle(ca_cert, _env_saved))
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


_bundles: dict[tuple[str, str | None], Path] = {}


def _bundle(ca_cert: Path, previous: str | None) -> Path:
    """A PEM bundle: ``ca_cert`` plus the CA file the process trusted before (cached)."""
    key = (str(ca_cert), previous)
    if key not in _bundles:
        default = previous or ssl.get_default_verify_paths().cafile
        parts = [ca_cert.read_text(encoding="ascii")]
        if default and Path(default).is_file():
            parts.append(Path(default).read_text(encoding="ascii", errors="ignore"))
        handle, name = tempfile.mkstemp(prefix="lyria-render-ca-", suffix=".pem")
        with os.fdopen(handle, "w", encoding="ascii", errors="ignore") as f:
            f.write("\n".join(parts))
        _bundles[key] = Path(name)
    return _bundles[key]


def _import_genai() -> Any:
    try:
        from google import genai
    except ImportError:
        raise MissingExtraError(
            "the Lyria backend needs the google-genai package",
            hint="pip install 'lyria-render[lyria]' (or use --backend offline)",
        ) from None
    return genai
