"""Style parameters: what a prompt means to the procedural engine, and how prompts blend.

A :class:`StyleVector` holds continuous parameters (tempo, energy, brightness ...) and
categorical scores (which drum kit, which groove, which lead instrument ...). Weighted
prompts blend like the service weights them: normalised by the sum of ``|w|``, relative
to a neutral default, so a negative weight pushes *away* from a style.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping, Sequence

__all__ = [
    "PARAMS",
    "CATEGORIES",
    "StyleVector",
    "DEFAULT_STYLE",
    "blend",
    "lerp_styles",
    "word_style",
    "stable_hash",
]

#: Continuous parameters and their neutral defaults (all in 0..1 except tempo in bpm
#: and octave in -1..1).
PARAMS: dict[str, float] = {
    "tempo": 110.0,
    "minor": 0.5,
    "energy": 0.55,
    "density": 0.5,
    "bright": 0.5,
    "swing": 0.0,
    "reverb": 0.35,
    "drive": 0.0,
    "echo": 0.0,
    "glitch": 0.0,
    "noise": 0.0,
    "drone": 0.0,
    "pad": 0.35,
    "arp": 0.3,
    "lead": 0.7,
    "drums": 0.8,
    "sync": 0.3,
    "ext": 0.2,
    "swirl": 0.0,
    "wobble": 0.0,
    "ornament": 0.0,
    "legato": 0.4,
    "octave": 0.0,
    "choir": 0.0,
    "perc": 0.0,
    "solo": 0.0,
}
PARAM_NAMES: tuple[str, ...] = tuple(PARAMS)
_RANGES: dict[str, tuple[float, float]] = {name: (0.0, 1.0) for name in PARAMS}
_RANGES["tempo"] = (60.0, 200.0)
_RANGES["octave"] = (-1.0, 1.0)

#: Categorical choices; each maps option -> score. The neutral default's options.
CATEGORIES: dict[str, dict[str, float]] = {
    "kit": {"acoustic": 1.0},
    "groove": {"backbeat": 1.0},
    "prog": {"pop": 1.0},
    "bassline": {"roots": 1.0},
    "comp": {"sustain": 1.0},
    "lead_i": {"synth_lead": 1.0},
    "harm_i": {"piano": 1.0},
    "bass_i": {"bass_e": 1.0},
    "pad_i": {"synth_pad": 1.0},
    "drone_i": {"drone_synth": 1.0},
}
#: How much the neutral default's categorical scores count in every blend.
_DEFAULT_CAT_WEIGHT = 0.12


@dataclass(frozen=True, kw_only=True)
class StyleVector:
    """A point in style space.

    Attributes:
        values: continuous parameters, keyed like :data:`PARAMS`.
        cats: categorical scores, ``{category: {option: score}}``.
    """

    values: Mapping[str, float]
    cats: Mapping[str, Mapping[str, float]]

    def get(self, name: str) -> float:
        """Clamped value of a continuous parameter."""
        low, high = _RANGES[name]
        return min(high, max(low, float(self.values.get(name, PARAMS[name]))))

    def choice(self, category: str) -> str:
        """Highest-scoring option of ``category`` (ties broken by name)."""
        ranked = self.ranked(category)
        return ranked[0][0] if ranked else next(iter(CATEGORIES[category]))

    def ranked(self, category: str) -> list[tuple[str, float]]:
        """Options with a positive score, best first (ties by name)."""
        scores = self.cats.get(category, {})
        items = [(k, v) for k, v in scores.items() if v > 1e-9]
        items.sort(key=lambda kv: (-kv[1], kv[0]))
        return items


DEFAULT_STYLE = StyleVector(values=dict(PARAMS), cats={k: dict(v) for k, v in CATEGORIES.items()})


def blend(parts: Sequence[tuple[StyleVector, float]], *, with_default: bool = True) -> StyleVector:
    """Blend styles by (already normalised) weights relative to the neutral default.

    Args:
        parts: ``(style, weight)`` pairs; weights may be negative (push away).
        with_default: add the neutral default's categorical votes (once per final blend).

    Returns:
        The blended style. With no parts, the neutral default.
    """
    values = dict(PARAMS)
    tempo_num, tempo_den = 0.0, 0.0
    for style, weight in parts:
        for name in PARAM_NAMES:
            if name == "tempo":
                continue
            values[name] += weight * (style.values.get(name, PARAMS[name]) - PARAMS[name])
        if weight > 0 and "tempo" in style.values:
            tempo_num += weight * style.values["tempo"]
            tempo_den += weight
    if tempo_den > 0:
        values["tempo"] = tempo_num / tempo_den
    cats: dict[str, dict[str, float]] = {}
    for category, options in CATEGORIES.items():
        scores = {k: v * _DEFAULT_CAT_WEIGHT for k, v in options.items()} if with_default else {}
        for style, weight in parts:
            for option, score in style.cats.get(category, {}).items():
                scores[option] = scores.get(option, 0.0) + weight * score
        cats[category] = scores
    return StyleVector(values=values, cats=cats)


def lerp_styles(a: StyleVector, b: StyleVector, t: float) -> StyleVector:
    """Linear interpolation between two styles (``t`` in 0..1)."""
    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    values = {n: (1 - t) * a.values.get(n, PARAMS[n]) + t * b.values.get(n, PARAMS[n]) for n in PARAM_NAMES}
    cats: dict[str, dict[str, float]] = {}
    for category in CATEGORIES:
        ca, cb = a.cats.get(category, {}), b.cats.get(category, {})
        cats[category] = {k: (1 - t) * ca.get(k, 0.0) + t * cb.get(k, 0.0) for k in set(ca) | set(cb)}
    return StyleVector(values=values, cats=cats)


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that is the same in every process (unlike ``hash``)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def word_style(word: str, options: Mapping[str, Sequence[str]]) -> StyleVector:
    """A deterministic style for a word the vocabulary does not know.

    The word's hash nudges every continuous parameter by up to ±0.3 and votes for one
    option in a few categories, so unknown text still changes the music, always the
    same way.

    Args:
        word: the normalised unknown word.
        options: for each category, the options a word may vote for.
    """
    h = stable_hash("word", word)
    values = dict(PARAMS)
    for i, name in enumerate(PARAM_NAMES):
        byte = (h >> ((i * 5) % 56)) & 0xFF
        if name == "tempo":
            values[name] = 80.0 + (byte / 255.0) * 70.0
        else:
            values[name] = PARAMS[name] + ((byte / 255.0) - 0.5) * 0.6
    cats: dict[str, dict[str, float]] = {}
    for j, (category, opts) in enumerate(sorted(options.items())):
        if opts:
            pick = stable_hash("word-cat", word, category) % len(opts)
            cats[category] = {opts[pick]: 1.0}
    return StyleVector(values=values, cats=cats)
