"""Lyria RealTime failures in our error tree: close codes mapped by what their reason says.

The conductor retries only :class:`TransientBackendError`. A close code alone does not
say what went wrong (LYRIA.md), so the server's reason text is always shown and a hint
is given only for the case the reason names:

* 1007 "User location is not supported": :class:`BackendError`, a region refusal;
  any other 1007 (and HTTP 400/404): :class:`BackendError`, an argument was rejected;
* 1008 "... not found / not supported for ...": :class:`BackendError`, the model;
  1008 naming the key or permission, or quota/exhaustion, or anything else, and HTTP
  401/403/429: :class:`AuthError` (key, quota, or a neutral hint);
* the client's own 1009 (a message over the SDK's 1 MiB limit, reported by the SDK as
  1006): :class:`ProtocolError`;
* 1011, 1006, 1000 and any other close, refused connections, OS errors: transient.

An ``{"error": …}`` message the server sent before closing (which the SDK drops) is
appended to the message as "the server said before closing: …".
"""

from __future__ import annotations

import ssl

from ..errors import AuthError, BackendError, ProtocolError, TransientBackendError
from .secrets import redact

__all__ = ["map_error", "AUTH_HINT"]

AUTH_HINT = (
    "check the API key (--api-key-file, GEMINI_API_KEY or GOOGLE_API_KEY), that its quota is not "
    "exhausted, and that Lyria RealTime is enabled for it"
)
_QUOTA_HINT = "the key's quota is exhausted: wait for it to refill or raise it in Google AI Studio, then --resume"
_MODEL_HINT = "check --model (e.g. models/lyria-realtime-exp) and --api-version (v1alpha)"
_REGION_HINT = ("the service refuses requests from this region (not a setting of yours): "
                "run from a supported location")
_ARGUMENT_HINT = "the service rejected a value it was sent (named above); check the timeline and --model"


def map_error(exc: BaseException, api_key: str, *, during: str, said: str | None = None) -> BackendError:
    """Translate an SDK / websockets / OS error into our error tree, key scrubbed.

    Args:
        exc: what the SDK raised.
        api_key: scrubbed from every text.
        during: ``connecting``, ``receiving`` or ``sending``.
        said: the text of an ``{"error": …}`` message received before the failure.
    """
    code, detail = _code_and_detail(exc)
    detail = redact(detail, api_key)
    extra = f"; the server said before closing: {redact(said, api_key)}" if said else ""
    where = f"Lyria RealTime refused or ended the session while {during}"
    text = f"{where} (code {code}): {detail}{extra}"
    low = f"{detail} {said or ''}".lower()
    if code in (1007, 400, 404):
        hint = _REGION_HINT if "location" in low and "not supported" in low else _ARGUMENT_HINT
        if code == 404:
            hint = "nothing serves Lyria RealTime at that address: check --base-url and --api-version"
        return BackendError(text, hint=hint)
    if code == 1008 or code in (401, 403, 429):
        return _refusal(text, low)
    if code == 1009:
        return ProtocolError(f"a message from the service exceeded the SDK's 1 MiB WebSocket limit while {during}",
                             hint="the server sent an oversize frame; retrying cannot help: report it")
    if code is None and _is_malformed(exc):
        return ProtocolError(f"the server sent a malformed message while {during}: {detail}{extra}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return BackendError(
            f"TLS certificate not trusted while {during}: {detail}",
            hint="pass --ca-cert with the CA that signed the server's certificate (lyria-render serve prints it)",
        )
    if code == 1000:
        return TransientBackendError(f"the service closed the session early while {during} (code 1000): "
                                     f"{detail}{extra}")
    if code is not None:
        return TransientBackendError(text)
    return TransientBackendError(f"connection to Lyria RealTime failed while {during}: {type(exc).__name__}: "
                                 f"{detail}{extra}")


def _refusal(text: str, low: str) -> BackendError:
    if "not found" in low or "not supported for" in low:
        return BackendError(text, hint=_MODEL_HINT)
    if "quota" in low or "exhausted" in low or "rate limit" in low:
        return AuthError(text, hint=_QUOTA_HINT)
    if "key" in low or "permission" in low or "unauthenticated" in low or "credential" in low:
        return AuthError(text, hint=AUTH_HINT)
    return AuthError(text, hint="the service refused the session for the reason shown; " + AUTH_HINT)


def _code_and_detail(exc: BaseException) -> tuple[int | None, str]:
    from google.genai import errors as genai_errors
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    if isinstance(exc, genai_errors.APIError):
        sent = getattr(getattr(exc.__context__, "sent", None), "code", None)
        if exc.code == 1006 and sent == 1009:  # our own socket refused an oversize frame
            return 1009, "message too big"
        detail = exc.message or (exc.details if isinstance(exc.details, str) else str(exc))
        return exc.code, str(detail or "no reason given")
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        if frame is None:
            if exc.sent is not None and exc.sent.code == 1009:
                return 1009, "message too big"
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
