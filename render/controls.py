"""The generator's controls: weighted prompts and the music generation config.

These frozen value types are shared by the timeline, the schedule, every backend and
the protocol server. Field names, ranges and defaults follow Lyria RealTime's
``LiveMusicGenerationConfig`` (see ``shared/LYRIA.md``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping, Sequence

__all__ = [
    "SCALES",
    "MODES",
    "NUMERIC_RANGES",
    "RESET_FIELDS",
    "WeightedPrompt",
    "GenerationConfig",
    "normalised_weights",
]


SCALES: tuple[str, ...] = (
    "SCALE_UNSPECIFIED",
    "C_MAJOR_A_MINOR",
    "D_FLAT_MAJOR_B_FLAT_MINOR",
    "D_MAJOR_B_MINOR",
    "E_FLAT_MAJOR_C_MINOR",
    "E_MAJOR_D_FLAT_MINOR",
    "F_MAJOR_D_MINOR",
    "G_FLAT_MAJOR_E_FLAT_MINOR",
    "G_MAJOR_E_MINOR",
    "A_FLAT_MAJOR_F_MINOR",
    "A_MAJOR_G_FLAT_MINOR",
    "B_FLAT_MAJOR_G_MINOR",
    "B_MAJOR_A_FLAT_MINOR",
)

MODES: tuple[str, ...] = ("QUALITY", "DIVERSITY", "VOCALIZATION")

#: (low, high) inclusive ranges of the numeric config fields, from the API reference.
NUMERIC_RANGES: dict[str, tuple[float, float]] = {
    "guidance": (0.0, 6.0),
    "bpm": (60, 200),
    "density": (0.0, 1.0),
    "brightness": (0.0, 1.0),
    "temperature": (0.0, 3.0),
    "top_k": (1, 1000),
    "seed": (0, 2_147_483_647),
}

#: Changing these only takes effect after ``reset_context`` (or stop then play).
RESET_FIELDS: frozenset[str] = frozenset({"bpm", "scale"})

_WIRE_NAMES = {
    "guidance": "guidance",
    "bpm": "bpm",
    "density": "density",
    "brightness": "brightness",
    "scale": "scale",
    "mute_bass": "muteBass",
    "mute_drums": "muteDrums",
    "only_bass_and_drums": "onlyBassAndDrums",
    "music_generation_mode": "musicGenerationMode",
    "temperature": "temperature",
    "top_k": "topK",
    "seed": "seed",
}


@dataclass(frozen=True, kw_only=True)
class WeightedPrompt:
    """A text prompt and its weight. The service refuses a weight of exactly 0."""

    text: str
    weight: float = 1.0

    def to_wire(self) -> dict[str, Any]:
        return {"text": self.text, "weight": self.weight}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "WeightedPrompt":
        return cls(text=str(data.get("text", "")), weight=float(data.get("weight", 1.0)))


@dataclass(frozen=True, kw_only=True)
class GenerationConfig:
    """The complete music generation config.

    ``None`` means "the model decides" (the service's own default). Because a config
    update replaces the whole config on the service, always send a complete instance.
    """

    guidance: float = 4.0
    bpm: int | None = None
    density: float | None = None
    brightness: float | None = None
    scale: str | None = None
    mute_bass: bool = False
    mute_drums: bool = False
    only_bass_and_drums: bool = False
    music_generation_mode: str = "QUALITY"
    temperature: float = 1.1
    top_k: int = 40
    seed: int | None = None

    def replace(self, **changes: Any) -> "GenerationConfig":
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_wire(self) -> dict[str, Any]:
        """camelCase JSON as sent in ``musicGenerationConfig``; unset fields are left out."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[_WIRE_NAMES[f.name]] = value
        return out

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> "GenerationConfig":
        """Inverse of :meth:`to_wire`; accepts camelCase or snake_case keys, ignores unknown ones."""
        by_wire = {v: k for k, v in _WIRE_NAMES.items()}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            name = by_wire.get(key, key)
            if name in _WIRE_NAMES and value is not None:
                kwargs[name] = value
        if isinstance(kwargs.get("scale"), str) and kwargs["scale"] == "SCALE_UNSPECIFIED":
            kwargs["scale"] = None
        return cls(**kwargs)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def normalised_weights(prompts: Sequence[WeightedPrompt]) -> list[float]:
    """Weights scaled so their absolute values sum to 1, as the service normalises them."""
    total = sum(abs(p.weight) for p in prompts)
    if total == 0:
        return [0.0 for _ in prompts]
    return [p.weight / total for p in prompts]
