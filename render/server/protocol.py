"""Lyria RealTime's BidiGenerateMusic wire protocol, as plain data (no sockets).

Client messages are parsed into small frozen values; anything the real service would
refuse becomes a :class:`Violation` carrying the WebSocket close code and reason the
server sends. Choices where the public docs say nothing (documented in ``serve --help``
and the module docs of :mod:`render.server`):

* invalid JSON, an unknown top-level key, an unknown config field, a value out of
  range, an unknown ``playbackControl``, a prompt weight of 0: close **1007** (the code
  Google's live endpoints use for ``INVALID_ARGUMENT``), with the offending field named;
* anything before ``setup`` or a second ``setup``: close **1007** as well;
* an empty ``weightedPrompts`` list: a ``warning`` (it is ignored), not a close.

Keys are accepted in camelCase (what the SDK sends) or snake_case (what the API
reference shows; proto-JSON parsers accept both). A chunk's ``sourceMetadata`` echo is
trimmed so the frame stays under the SDK's 1 MiB limit (:data:`MAX_FRAME_BYTES`).

Auth and quota refusals (close **1008**) live in :mod:`render.server.connection`.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

from render.audio import CHANNELS, SAMPLE_RATE
from render.controls import MODES, NUMERIC_RANGES, SCALES, GenerationConfig, WeightedPrompt

__all__ = [
    "MIME_TYPE",
    "PATH_RE",
    "CLOSE_INVALID",
    "CLOSE_POLICY",
    "CLOSE_SERVER_ERROR",
    "Violation",
    "Setup",
    "SetPrompts",
    "SetConfig",
    "Playback",
    "ClientMessage",
    "parse_client_message",
    "setup_complete",
    "audio_chunk_message",
    "filtered_prompt_message",
    "warning_message",
    "error_message",
    "close_reason",
    "MAX_FRAME_BYTES",
]

MIME_TYPE = f"audio/l16;rate={SAMPLE_RATE};channels={CHANNELS}"

#: The only paths served; the SDK builds them from ``api_version``.
PATH_RE = re.compile(
    r"^/ws/google\.ai\.generativelanguage\.(?P<version>v1alpha|v1beta)"
    r"\.GenerativeService\.BidiGenerateMusic/?(?:\?.*)?$"
)

#: The SDK's websockets client refuses frames over 2**20 bytes; stay clear of it.
MAX_FRAME_BYTES = 1_040_000

CLOSE_INVALID = 1007
CLOSE_POLICY = 1008
CLOSE_SERVER_ERROR = 1011

PLAYBACK_CONTROLS = ("PLAY", "PAUSE", "STOP", "RESET_CONTEXT")
_CONFIG_WIRE_TO_FIELD = {
    "guidance": "guidance", "bpm": "bpm", "density": "density", "brightness": "brightness",
    "scale": "scale", "muteBass": "mute_bass", "muteDrums": "mute_drums",
    "onlyBassAndDrums": "only_bass_and_drums", "musicGenerationMode": "music_generation_mode",
    "temperature": "temperature", "topK": "top_k", "seed": "seed",
}
_CONFIG_WIRE_TO_FIELD.update({name: name for name in list(_CONFIG_WIRE_TO_FIELD.values())})
_TOP_KEYS = {"setup": "setup", "clientContent": "clientContent", "client_content": "clientContent",
             "musicGenerationConfig": "musicGenerationConfig", "music_generation_config": "musicGenerationConfig",
             "playbackControl": "playbackControl", "playback_control": "playbackControl"}
_BOOL_FIELDS = {"mute_bass", "mute_drums", "only_bass_and_drums"}
_INT_FIELDS = {"bpm", "top_k", "seed"}


class Violation(Exception):
    """A client message the service refuses: close the socket with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class Setup:
    model: str


@dataclass(frozen=True, kw_only=True)
class SetPrompts:
    prompts: tuple[WeightedPrompt, ...]


@dataclass(frozen=True, kw_only=True)
class SetConfig:
    config: GenerationConfig


@dataclass(frozen=True, kw_only=True)
class Playback:
    control: str  # one of PLAYBACK_CONTROLS


ClientMessage = Setup | SetPrompts | SetConfig | Playback


def parse_client_message(raw: str | bytes) -> ClientMessage:
    """Parse one client frame.

    Args:
        raw: the text (or binary) frame as received.

    Returns:
        The parsed message.

    Raises:
        Violation: the frame is not something the service accepts (close 1007).
    """
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Violation(CLOSE_INVALID, f"Invalid JSON payload received: {exc.msg if hasattr(exc, 'msg') else exc}")
    if not isinstance(data, dict) or len(data) != 1:
        raise Violation(CLOSE_INVALID, "Each message must be a JSON object with exactly one of "
                        "setup, clientContent, musicGenerationConfig, playbackControl")
    (key, value), = data.items()
    key = _TOP_KEYS.get(key, key)
    if key == "setup":
        return _parse_setup(value)
    if key == "clientContent":
        return _parse_client_content(value)
    if key == "musicGenerationConfig":
        return SetConfig(config=parse_config(value))
    if key == "playbackControl":
        if value not in PLAYBACK_CONTROLS:
            raise Violation(CLOSE_INVALID, f"Invalid value at 'playback_control' ({value!r}): "
                            f"expected one of {', '.join(PLAYBACK_CONTROLS)}")
        return Playback(control=value)
    raise Violation(CLOSE_INVALID, f"Unknown name {key!r}: Cannot find field.")


def _parse_setup(value: Any) -> Setup:
    if not isinstance(value, dict) or not isinstance(value.get("model"), str) or not value["model"]:
        raise Violation(CLOSE_INVALID, "setup.model is required, e.g. 'models/lyria-realtime-exp'")
    return Setup(model=value["model"])


def _parse_client_content(value: Any) -> SetPrompts:
    if not isinstance(value, dict) or set(value) - {"weightedPrompts", "weighted_prompts"}:
        raise Violation(CLOSE_INVALID, "clientContent accepts only 'weightedPrompts'")
    items = value.get("weightedPrompts", value.get("weighted_prompts")) or []
    if not isinstance(items, list):
        raise Violation(CLOSE_INVALID, "clientContent.weightedPrompts must be a list")
    prompts = []
    for i, item in enumerate(items):
        where = f"weighted_prompts[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
            raise Violation(CLOSE_INVALID, f"{where}.text must be a non-empty string")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise Violation(CLOSE_INVALID, f"{where}.weight must be a number, got {weight!r}")
        if weight == 0:
            raise Violation(CLOSE_INVALID, f"{where}.weight must not be 0")
        prompts.append(WeightedPrompt(text=item["text"], weight=float(weight)))
    return SetPrompts(prompts=tuple(prompts))


def parse_config(value: Any) -> GenerationConfig:
    """Validate a ``musicGenerationConfig`` object (camelCase) into a complete config.

    Fields left out take their defaults: a config update replaces the whole config.
    """
    if not isinstance(value, dict):
        raise Violation(CLOSE_INVALID, "musicGenerationConfig must be an object")
    kwargs: dict[str, Any] = {}
    for key, item in value.items():
        name = _CONFIG_WIRE_TO_FIELD.get(key)
        if name is None:
            raise Violation(CLOSE_INVALID, f"Unknown name {key!r} at 'music_generation_config': Cannot find field.")
        if item is not None:
            kwargs[name] = _check_field(name, item)
    if kwargs.get("scale") == "SCALE_UNSPECIFIED":
        kwargs.pop("scale")
    return GenerationConfig(**kwargs)


def _check_field(name: str, value: Any) -> Any:
    where = f"music_generation_config.{name}"
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise Violation(CLOSE_INVALID, f"{where} must be true or false, got {value!r}")
        return value
    if name == "scale" or name == "music_generation_mode":
        allowed = SCALES if name == "scale" else MODES
        if value not in allowed:
            raise Violation(CLOSE_INVALID, f"Invalid value at '{where}' ({value!r})")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Violation(CLOSE_INVALID, f"{where} must be a number, got {value!r}")
    if name in _INT_FIELDS and float(value) != int(value):
        raise Violation(CLOSE_INVALID, f"{where} must be an integer, got {value!r}")
    low, high = NUMERIC_RANGES[name]
    if not low <= value <= high:
        raise Violation(CLOSE_INVALID, f"{where} = {value!r} is outside [{low}, {high}]")
    return int(value) if name in _INT_FIELDS else float(value)


def setup_complete() -> str:
    return json.dumps({"setupComplete": {}})


def audio_chunk_message(
    pcm: bytes,
    *,
    prompts: Sequence[WeightedPrompt],
    config: GenerationConfig,
    mime_type: str = MIME_TYPE,
) -> str:
    """A ``serverContent`` frame carrying one chunk and its ``sourceMetadata``.

    Prompts are echoed only as far as the frame stays under :data:`MAX_FRAME_BYTES`;
    when even none fit, ``clientContent`` is left out.
    """
    data = base64.b64encode(pcm).decode("ascii")
    wire_prompts = [p.to_wire() for p in prompts]

    def frame(echo: list[dict[str, Any]] | None) -> str:
        meta: dict[str, Any] = {"musicGenerationConfig": config.to_wire()}
        if echo is not None:
            meta = {"clientContent": {"weightedPrompts": echo}, **meta}
        chunk = {"data": data, "mimeType": mime_type, "sourceMetadata": meta}
        return json.dumps({"serverContent": {"audioChunks": [chunk]}})

    text = frame(wire_prompts)
    if len(text) <= MAX_FRAME_BYTES:  # ASCII unless prompts hold non-ASCII text
        if len(text.encode("utf-8")) <= MAX_FRAME_BYTES:
            return text
    room = MAX_FRAME_BYTES - len(frame(None).encode("utf-8")) - 64
    kept, used = [], 0
    for item in wire_prompts:
        size = len(json.dumps(item).encode("utf-8")) + 2
        if used + size > room:
            break
        kept.append(item)
        used += size
    return frame(kept or None)


def error_message(code: int, message: str) -> str:
    """An ``{"error": …}`` message, as Google's endpoints send before some closes."""
    status = {CLOSE_INVALID: "INVALID_ARGUMENT", CLOSE_POLICY: "PERMISSION_DENIED"}.get(code, "INTERNAL")
    return json.dumps({"error": {"code": code, "message": message, "status": status}})


def filtered_prompt_message(text: str, reason: str) -> str:
    return json.dumps({"filteredPrompt": {"text": text, "filteredReason": reason}})


def warning_message(text: str) -> str:
    return json.dumps({"warning": text})


def close_reason(text: str) -> str:
    """Trim ``text`` to the 123 bytes a close frame can carry."""
    data = text.encode("utf-8")
    if len(data) <= 123:
        return text
    return data[:120].decode("utf-8", "ignore") + "..."

