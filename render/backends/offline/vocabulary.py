"""The prompt vocabulary: names users type, and what each means as a style.

Every entry is written in a small line format so that the whole table stays readable::

    "Hard Rock": "genre; tempo=132 energy=.85; kit:rock groove:backbeat lead_i:dist_guitar"

before the first ``;`` is the kind (genre, instrument, mood, texture); then continuous
parameter values (see :data:`style.PARAMS`); then ``category:option`` votes (an
optional ``*w`` scales the vote). :func:`analyse_prompt` maps free text onto entries,
robust to case, plurals, word order and small typos.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .style import CATEGORIES, DEFAULT_STYLE, StyleVector, blend, stable_hash, word_style
from .vocab_table import ALIASES, MODIFIERS, TABLE

__all__ = ["VocabularyEntry", "VOCABULARY", "PromptMatch", "analyse_prompt", "normalise_words", "style_of_prompts", "entry_role"]


@dataclass(frozen=True, kw_only=True)
class VocabularyEntry:
    """One named style (a genre, an instrument, a mood or a texture)."""

    name: str
    kind: str
    style: StyleVector
    words: tuple[str, ...]
    role: str = ""


@dataclass(frozen=True, kw_only=True)
class PromptMatch:
    """How the engine understood one prompt.

    Attributes:
        text: the prompt as given.
        matches: ``(entry name, score)`` pairs, best first; scores in (0, 1].
        unmatched: normalised words that matched nothing (they still change the music,
            through a hash).
        modifiers: words that modify what the prompt names ("solo", "concert" ...),
            see :data:`vocab_table.MODIFIERS`.
    """

    text: str
    matches: tuple[tuple[str, float], ...]
    unmatched: tuple[str, ...]
    modifiers: tuple[str, ...] = ()

    @property
    def roles(self) -> tuple[tuple[str, str], ...]:
        """``(entry name, the role it plays)`` for each match (see :func:`entry_role`)."""
        return tuple((name, VOCABULARY[name].role) for name, _ in self.matches)


_STOP = frozenset({"a", "an", "the", "and", "with", "of", "in", "on", "some", "very", "style", "music", "vibe", "vibes", "sound", "sounds", "feel", "feeling", "beat", "beats", "&", "n", "type", "like", "for", "into"})
# Words whose own meaning matters even though they are short or common.
_KEEP = frozenset({"beat", "beats"})
_SYNONYMS = {"rnb": "r&b", "drumnbass": "drum & bass", "dnb": "drum & bass", "lofi": "lo-fi", "sax": "saxophone", "synths": "synth", **ALIASES}


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def normalise_words(text: str) -> list[str]:
    """Lower-cased, singular word tokens of ``text`` (hyphens and '&' kept as words)."""
    text = text.lower().replace("r&b", " rnb ").replace("’", "'")
    tokens = [t for t in re.findall(r"[a-z]+|[0-9]+", text.replace("-", " ")) if len(t) > 1 or t.isdigit()]
    out: list[str] = []
    for token in tokens:
        token = _SYNONYMS.get(token, token)
        out.extend(_singular(t) for t in re.findall(r"[a-z0-9]+", token.replace("&", " ")) or [token])
    return out


def _parse(name: str, spec: str) -> VocabularyEntry:
    kind, _, rest = (part.strip() for part in spec.partition(";"))
    values: dict[str, float] = {}
    cats: dict[str, dict[str, float]] = {}
    for item in rest.replace(";", " ").split():
        if "=" in item:
            key, value = item.split("=", 1)
            values[key] = float(value)
        else:
            category, option = item.split(":", 1)
            option, _, weight = option.partition("*")
            if category not in CATEGORIES:
                raise ValueError(f"vocabulary {name!r}: unknown category {category!r}")
            cats.setdefault(category, {})[option] = float(weight or 1.0)
    words = tuple(w for w in normalise_words(name) if w not in _STOP or w in _KEEP)
    if kind == "instrument" and _featured(cats) in ("lead", "chords", "pad"):
        for key, default in _FEATURED.items():  # a named melodic instrument leads (issue 12)
            values.setdefault(key, default)
        if not cats.get("lead_i") and cats.get("harm_i"):
            top = max(cats["harm_i"].items(), key=lambda kv: kv[1])[0]
            cats["lead_i"] = {top: 0.9}
    style = StyleVector(values=values, cats=cats)
    return VocabularyEntry(name=name, kind=kind, style=style, words=words, role=entry_role(kind, cats))


#: Defaults of an instrument entry whose instrument plays the melody or the main figure:
#: it leads, the drums thin out and the pads step back (an entry may override each).
_FEATURED = {"solo": 1.0, "drums": 0.05, "pad": 0.2, "arp": 0.1}
_PARTS = (("kit", "drums"), ("bass_i", "bass"), ("lead_i", "lead"), ("harm_i", "chords"), ("pad_i", "pad"), ("drone_i", "drone"))


def _featured(cats: dict[str, dict[str, float]]) -> str:
    """The part an instrument entry features: the category with its strongest vote for an
    instrument ("lead_i:none" silences the lead, it features nothing)."""
    votes = ((max((w for o, w in cats.get(c, {}).items() if o != "none"), default=0.0), part) for c, part in _PARTS)
    best = max((v for v in votes if v[0] > 0), default=(0.0, ""))
    return best[1]


def entry_role(kind: str, cats: dict[str, dict[str, float]]) -> str:
    """What a vocabulary entry does to the music, in a few words (shown by ``plan``)."""
    if kind == "instrument":
        return f"featured {_featured(cats) or 'part'}"
    return {
        "genre": "genre: groove, bass, harmony, palette, production",
        "mood": "mood: density, register, brightness, harmony",
        "texture": "texture: production and effects",
    }.get(kind, kind)


VOCABULARY: dict[str, VocabularyEntry] = {name: _parse(name, spec) for name, spec in TABLE.items()}

_KNOWN_WORDS: frozenset[str] = frozenset(w for e in VOCABULARY.values() for w in e.words)


def _fix_typo(word: str) -> str:
    """The closest vocabulary word to ``word`` if it is a small typo, else ``word``."""
    if word in _KNOWN_WORDS or word in MODIFIERS or len(word) < 4:
        return word
    close = difflib.get_close_matches(word, sorted(_KNOWN_WORDS), n=1, cutoff=0.75)
    return close[0] if close else word


@lru_cache(maxsize=512)
def analyse_prompt(text: str) -> PromptMatch:
    """Map prompt text onto vocabulary entries.

    An entry matches when all its words occur in the prompt (any order, any case,
    singular or plural, small typos fixed); its score is the share of the prompt's
    words it explains. Entries wholly contained in a longer matching entry are dropped
    (so "Indie Pop" does not also count as "Pop"). Partly matching multi-word entries
    count with a lower score when nothing better explains those words.

    Args:
        text: the prompt as written.

    Returns:
        The matches (best first) and the words nothing explained.
    """
    raw = [w for w in normalise_words(text) if w not in _STOP or w in _KEEP]
    words = [_fix_typo(w) for w in raw]
    present = set(words)
    found: list[tuple[str, frozenset[str]]] = []
    for entry in VOCABULARY.values():
        need = set(entry.words)
        if need and need <= present:
            found.append((entry.name, frozenset(need)))
    found = [(n, s) for n, s in found if not any(s < other for _, other in found)]
    explained = set().union(*(s for _, s in found)) if found else set()
    modifiers = tuple(w for w in dict.fromkeys(words) if w in MODIFIERS and w not in explained)
    explained |= set(modifiers)
    partial = _partial_matches(present - explained)
    found += partial
    explained |= set().union(*(s for _, s in partial)) if partial else set()
    total = max(1, len(set(words)))
    scored = sorted(((n, round(min(1.0, len(s) / total + 0.25), 3)) for n, s in found), key=lambda m: (-m[1], m[0]))
    unmatched = tuple(dict.fromkeys(r for r, w in zip(raw, words) if w not in explained))
    return PromptMatch(text=text, matches=tuple(scored), unmatched=unmatched, modifiers=modifiers)


def _partial_matches(words: set[str]) -> list[tuple[str, frozenset[str]]]:
    """Entries sharing a distinctive word with ``words`` (e.g. "Jazz" -> "Latin Jazz")."""
    out: list[tuple[str, frozenset[str]]] = []
    for word in sorted(words):
        if word not in _KNOWN_WORDS:
            continue
        owners = sorted((e for e in VOCABULARY.values() if word in e.words), key=lambda e: (len(e.words), e.name))
        out.append((owners[0].name, frozenset({word})))
    return out


_GENRES: tuple[str, ...] = tuple(sorted(n for n, e in VOCABULARY.items() if e.kind == "genre"))
_MODIFIER_VALUES: dict[str, dict[str, float]] = {
    word: {k: float(v) for k, v in (item.split("=") for item in spec.split())} for word, spec in MODIFIERS.items()
}


def _unknown_word_style(word: str) -> StyleVector:
    """What a word nothing explains means when nothing else in its prompt matched: a
    genre the word's hash picks, nudged by the word's own parameters (so the music stays
    coherent, and different words give different music, always the same way)."""
    genre = VOCABULARY[_GENRES[stable_hash("word-genre", word) % len(_GENRES)]].style
    return blend([(genre, 0.7), (word_style(word, {}), 0.3)], with_default=False)


#: How much more a named instrument counts than the genre or mood named beside it in one
#: prompt: "Celtic Harp" is a harp playing Celtic music, not a Celtic band with a harp in it.
INSTRUMENT_LEAD = 2.0


def _prompt_style(text: str) -> tuple[StyleVector, PromptMatch]:
    """The prompt's style: its matches blended by score. Unknown words only nudge the
    parameters of a prompt that matched something; alone, each picks a coherent genre.
    Modifier words then set their parameters ("solo" makes the named instrument solo)."""
    match = analyse_prompt(text)
    kinds = {VOCABULARY[name].kind for name, _ in match.matches}
    lead = INSTRUMENT_LEAD if "instrument" in kinds and len(kinds) > 1 else 1.0  # "Celtic Harp": the harp leads
    parts = [(VOCABULARY[name].style, score * (lead if VOCABULARY[name].kind == "instrument" else 1.0)) for name, score in match.matches]
    if parts:
        parts += [(word_style(w, {}), 0.12) for w in match.unmatched]
    else:
        parts += [(_unknown_word_style(w), 0.5) for w in match.unmatched]
    total = sum(abs(w) for _, w in parts)
    style = blend([(s, w / total) for s, w in parts], with_default=False) if parts else DEFAULT_STYLE
    for word in match.modifiers:
        style = StyleVector(values={**style.values, **_MODIFIER_VALUES[word]}, cats=style.cats)
    return style, match


@lru_cache(maxsize=128)
def style_of_prompts(prompts: tuple[tuple[str, float], ...]) -> tuple[StyleVector, dict[str, Any]]:
    """The blended style of weighted prompts, and a report of what was understood.

    Args:
        prompts: ``((text, weight), ...)``; weights are normalised by the sum of ``|w|``.

    Returns:
        ``(style, info)``; ``info`` has ``unmatched_words`` (list) and ``styles``
        (vocabulary entry -> share of the blend, negative for pushed-away styles).
    """
    total = sum(abs(w) for _, w in prompts)
    if not prompts or total == 0:
        return DEFAULT_STYLE, {"unmatched_words": [], "styles": {}}
    parts, unmatched, shares = [], [], {}
    for text, weight in prompts:
        style, match = _prompt_style(text)
        parts.append((style, weight / total))
        unmatched += [w for w in match.unmatched if w not in unmatched]
        score_sum = sum(s for _, s in match.matches) or 1.0
        for name, score in match.matches:
            shares[name] = round(shares.get(name, 0.0) + weight / total * score / score_sum, 4)
    return blend(parts), {"unmatched_words": unmatched, "styles": shares}
