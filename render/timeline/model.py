"""The timeline file format: pydantic models at the file boundary.

A timeline is YAML or JSON. See ``docs/timeline.md`` for the format with examples;
``lyria-render schema`` prints the JSON Schema generated from these models. Loading
with positions and semantic checks lives in :mod:`render.timeline.loader`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from render.controls import MODES, SCALES, GenerationConfig

from .timecode import DURATION_HELP, TIME_HELP, parse_duration, parse_meter, parse_time

__all__ = [
    "Timeline",
    "PromptSpec",
    "ConfigSpec",
    "EventSpec",
    "OutputSpec",
    "Mp3Spec",
    "LoopSpec",
    "OggSpec",
    "OpusSpec",
    "TagSpec",
    "MAX_PROMPT_CHARS",
    "check_output_name",
    "FORMAT_VERSION",
]

FORMAT_VERSION = 1
MAX_PROMPT_CHARS = 500


def _check_time(value: Any) -> Any:
    parse_time(value)
    return value


def _check_duration(value: Any) -> Any:
    parse_duration(value)
    return value


TimeValue = Annotated[
    Union[StrictInt, StrictFloat, StrictStr],
    AfterValidator(_check_time),
    Field(description=f"A position: {TIME_HELP}."),
]
DurationValue = Annotated[
    Union[StrictInt, StrictFloat, StrictStr],
    AfterValidator(_check_duration),
    Field(description=f"A duration: {DURATION_HELP}."),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # no "yes" -> True, no true -> 1


class PromptSpec(_Model):
    """One weighted text prompt."""

    text: str = Field(description="What the music should be, e.g. 'Indie Pop' or 'Sitar'.")
    weight: float = Field(1.0, description="Any value but 0; weights are normalised by the generator.")

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt text is empty")
        if len(value) > MAX_PROMPT_CHARS:
            raise ValueError(f"prompt text is {len(value)} characters; the limit is {MAX_PROMPT_CHARS}")
        return value.strip()

    @field_validator("weight")
    @classmethod
    def _weight(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("weight must be a finite number")
        if value == 0:
            raise ValueError("weight 0 is refused by the service; remove the prompt or give it a small weight")
        return value


def _prompts_shorthand(value: Any) -> Any:
    """``{"Sitar": 2, "Piano": 1}`` -> ``[{"text": "Sitar", "weight": 2}, ...]``."""
    if isinstance(value, dict):
        return [{"text": k, "weight": v} for k, v in value.items()]
    if isinstance(value, list):
        return [{"text": item} if isinstance(item, str) else item for item in value]
    return value


_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY = re.compile(r"^([A-Ga-g])\s*(#|♯|b|♭|-?sharp|-?flat)?\s*(major|maj|minor|min|m|M)?$")


def _pitch(name: str) -> int:
    """``D_FLAT`` / ``Db`` / ``C#`` -> pitch class."""
    base, _, acc = name.partition("_")
    return (_PC[base[0].upper()] + {"FLAT": -1, "SHARP": 1}.get(acc, 0)) % 12


def _scale_keys() -> dict[tuple[int, bool], str]:
    keys = {}
    for enum in SCALES[1:]:
        major, minor = enum.removesuffix("_MINOR").split("_MAJOR_")
        keys[(_pitch(major), True)], keys[(_pitch(minor), False)] = enum, enum
    return keys


def scale_enum(text: str) -> str:
    """A scale enum from itself or a friendly key name: "C major", "A minor", "Am", "F#m", "Bb major".

    Anything else comes back upper-cased for the enum check (which suggests the nearest enum).
    """
    upper = text.strip().upper().replace(" ", "_")
    if upper in SCALES:
        return upper
    m = _KEY.match(text.strip())
    if m:
        acc = (m.group(2) or "").lower().lstrip("-")
        pc = (_PC[m.group(1).upper()] + (1 if acc in ("#", "♯", "sharp") else -1 if acc else 0)) % 12
        minor = m.group(3) is not None and m.group(3) != "M" and m.group(3).lower().startswith("m") \
            and m.group(3).lower() not in ("maj", "major")
        return _scale_keys()[(pc, not minor)]
    return upper  # not a key name: the enum check reports it, with a did-you-mean


class ConfigSpec(_Model):
    """Music generation settings (Lyria's ``LiveMusicGenerationConfig``). Unset = model decides."""

    guidance: float | None = Field(None, ge=0.0, le=6.0, description="How closely to follow the prompts (default 4.0).")
    bpm: int | None = Field(None, ge=60, le=200, description="Tempo in beats per minute; changes need a context reset.")
    density: float | None = Field(None, ge=0.0, le=1.0, description="How busy the music is.")
    brightness: float | None = Field(None, ge=0.0, le=1.0, description="Tonal brightness.")
    scale: Literal[SCALES] | None = Field(None, description="Pitch-class set; changes need a context reset.")  # type: ignore[valid-type]
    mute_bass: bool | None = None
    mute_drums: bool | None = None
    only_bass_and_drums: bool | None = None
    music_generation_mode: Literal[MODES] | None = Field(None, description="QUALITY, DIVERSITY or VOCALIZATION.")  # type: ignore[valid-type]
    temperature: float | None = Field(None, ge=0.0, le=3.0, description="Randomness (default 1.1).")
    top_k: int | None = Field(None, ge=1, le=1000, description="Sampling breadth (default 40).")
    seed: int | None = Field(None, ge=0, le=2_147_483_647, description="Generator seed; defaults to the timeline seed.")

    @field_validator("scale", "music_generation_mode", mode="before")
    @classmethod
    def _upper(cls, value: Any, info: Any) -> Any:
        if info.field_name == "scale" and isinstance(value, str):
            return scale_enum(value)
        return value.strip().upper().replace(" ", "_") if isinstance(value, str) else value

    @field_validator("guidance", "mute_bass", "mute_drums", "only_bass_and_drums", "music_generation_mode",
                     "temperature", "top_k", "seed")
    @classmethod
    def _not_null(cls, value: Any, info: Any) -> Any:
        if value is None:  # only bpm, density, brightness and scale can go back to "model decides"
            default = getattr(GenerationConfig(), info.field_name)
            hint = f" (default {default})" if default is not None else ""
            raise ValueError(f"{info.field_name} cannot be null; leave it out to keep the current value{hint}")
        return value

    def given(self) -> dict[str, Any]:
        """The fields this spec sets, as a dict."""
        return {k: v for k, v in self.model_dump().items() if k in self.model_fields_set}

    def apply_to(self, base: GenerationConfig) -> GenerationConfig:
        return base.replace(**self.given())


Curve = Literal["linear", "equal-power", "ease"]


class EventSpec(_Model):
    """A change at a time: new prompts, weights, config, a reset, optionally ramped."""

    at: TimeValue
    label: str | None = Field(None, description="A name shown by `plan` and in the manifest.")
    prompts: Annotated[list[PromptSpec], Field(min_length=1)] | None = Field(
        None, description="Replace the whole prompt set (list of {text, weight} or mapping text: weight)."
    )
    weights: dict[str, float] | None = Field(None, description="Change (or add) the weights of some prompts.")
    config: ConfigSpec | None = Field(None, description="Change some config fields.")
    reset: bool = Field(False, description="Reset the context (a hard transition).")
    ramp: DurationValue | None = Field(None, description="Move weights and numeric config over this long.")
    curve: Curve = Field("linear", description="Ramp shape: linear, equal-power or ease.")

    _shorthand = field_validator("prompts", mode="before")(lambda cls, v: _prompts_shorthand(v))

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for text, weight in (value or {}).items():
            if not text.strip():
                raise ValueError("a weight names an empty prompt")
            if weight == 0 or not math.isfinite(weight):
                raise ValueError(f"weight of {text!r} is {weight}; 0 is refused by the service (use `prompts` to drop it)")
        return value

    @model_validator(mode="after")
    def _does_something(self) -> "EventSpec":
        if not (self.prompts or self.weights or self.config or self.reset):
            raise ValueError("event changes nothing: give prompts, weights, config or reset: true")
        if self.config is not None and not self.config.model_fields_set:
            raise ValueError("config is empty: name the fields to change")
        return self


_TAG_KEY = re.compile(r"[\x20-\x3c\x3e-\x7d]{1,64}")  # a Vorbis comment field name (no '=', no '~')
_OUTPUT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,120}$")


def check_output_name(name: str) -> str:
    """``output.name`` and ``--name``: a safe file-name stem. Raises ``ValueError``."""
    if isinstance(name, str) and len(name) > 121:
        raise ValueError(f"output name {name[:20]!r}... is too long ({len(name)} characters; at most 121)")
    if not isinstance(name, str) or not _OUTPUT_NAME.fullmatch(name):
        raise ValueError(f"output name {name!r} is not a safe file name: use letters, digits, space, '.', '_' "
                         "and '-', start with a letter or digit, at most 121 characters")
    return name


class Mp3Spec(_Model):
    """MP3 encoder settings."""

    mode: Literal["vbr", "cbr"] = "vbr"
    bitrate_kbps: Literal[32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320] = 320
    quality: int = Field(2, ge=0, le=9, description="VBR quality, LAME -V0 (best) to -V9.")


class OggSpec(_Model):
    """OGG Vorbis encoder settings."""

    quality: float = Field(6.0, ge=0.0, le=10.0, description="Vorbis quality, as oggenc -q: 0 (smallest) to 10 (best).")


class OpusSpec(_Model):
    """Opus encoder settings (Opus is 48000 Hz only, always VBR)."""

    quality: float = Field(6.0, ge=0.0, le=10.0, description="Bitrate, 0 (smallest) to 10 (best).")


class LoopSpec(_Model):
    """Seamless loop export: the tail is crossfaded into the loop start (the head by default)."""

    crossfade: DurationValue = "2s"
    start: TimeValue = Field(0, description="Where the loop starts; the part before it is an intro played once.")


Stem = Literal["drums", "bass", "other"]


class TagSpec(_Model):
    """Tags written into every file."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genre: str | None = None
    comment: str | None = None
    year: str | None = None
    custom: dict[str, str] = Field(default_factory=dict, description="Free-form keys (TXXX, Vorbis comments): "
                                   "printable ASCII without '=' or '~'.")

    @field_validator("custom")
    @classmethod
    def _custom_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _TAG_KEY.fullmatch(key):
                raise ValueError(f"tag key {key!r} cannot be written: use printable ASCII (letters, digits, "
                                 "space, punctuation) without '=' or '~', at least one character")
        return value


class OutputSpec(_Model):
    """What files to write and how to master them."""

    name: str | None = Field(None, description="File name stem.", json_schema_extra={"pattern": _OUTPUT_NAME.pattern})
    formats: Annotated[list[Literal["wav", "mp3", "flac", "ogg", "opus"]], Field(min_length=1)] = ["wav", "mp3"]
    sample_rate: Literal[22050, 24000, 32000, 44100, 48000, 88200, 96000] = 48000
    bit_depth: Literal[16, 24, 32] = Field(16, description="WAV/FLAC bits; 32 = float WAV (FLAC: 24).")
    mp3: Mp3Spec = Field(default_factory=Mp3Spec)
    ogg: OggSpec = Field(default_factory=OggSpec)
    opus: OpusSpec = Field(default_factory=OpusSpec)
    stems: list[Stem] = Field(default_factory=list, description="Also write these stems beside the mix.")
    loudness_lufs: float | None = Field(-14.0, ge=-40.0, le=-5.0, description="Integrated loudness target; null = leave.")
    true_peak_dbtp: float = Field(-1.0, ge=-12.0, le=0.0, description="True-peak ceiling.")
    trim_start: DurationValue = Field(0, description="Discard this much generated audio first (the model settles).")
    fade_in: DurationValue = 0
    fade_out: DurationValue = 0
    loop: bool | LoopSpec = False
    seam_crossfade: DurationValue = Field("2s", description="Crossfade at session seams (rotation, reconnect).")
    tags: TagSpec = Field(default_factory=TagSpec)

    _name = field_validator("name")(lambda cls, v: v if v is None else check_output_name(v))

    @field_validator("formats")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"formats lists a format twice: {value}")
        return value


class EngineSpec(_Model):
    """Offline engine settings."""

    soundfont: str | None = Field(None, min_length=1, description="A .sf2/.sf3 General MIDI bank the offline engine plays its "
                                  "instruments through; a relative path is relative to the timeline file.")


class Timeline(_Model):
    """A timeline: initial prompts and config, timed events, and output settings."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, title="lyria-render timeline")

    version: Literal[1] = Field(FORMAT_VERSION, description="Format version.")
    title: str | None = None
    duration: DurationValue = Field(description="Length of the finished piece.")
    seed: int = Field(0, ge=0, le=2_147_483_647, description="Seed for reproducible renders.")
    meter: str = Field("4/4", description="Time signature for bar-based times, e.g. 4/4 or 6/8.")
    control_interval: DurationValue = Field("0.5s", description="Step of ramps (Lyria's guide: 500 ms).")
    prompts: Annotated[list[PromptSpec], Field(min_length=1)] = Field(
        description="Initial prompts: list of {text, weight}, or a mapping text: weight."
    )
    config: ConfigSpec = Field(default_factory=ConfigSpec)
    events: list[EventSpec] = Field(default_factory=list)
    output: OutputSpec = Field(default_factory=OutputSpec)
    engine: EngineSpec = Field(default_factory=EngineSpec)

    _shorthand = field_validator("prompts", mode="before")(lambda cls, v: _prompts_shorthand(v))

    @field_validator("meter")
    @classmethod
    def _meter(cls, value: str) -> str:
        parse_meter(value)
        return value.strip()

    def initial_config(self) -> GenerationConfig:
        """The complete starting config; the seed defaults to the timeline seed."""
        config = self.config.apply_to(GenerationConfig())
        return config if config.seed is not None else config.replace(seed=self.seed)
