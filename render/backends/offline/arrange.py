"""Arrangement decisions for one phrase: which groove, progression, instruments and voices.

The decisions follow the blended style; low guidance, high temperature and DIVERSITY mode
let a phrase stray from the top-ranked choices (``wild``), ``top_k`` bounds how far down
the ranking it may go, and density switches voices on (more density, more voices).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .instruments import TAPE
from .patterns import MACHINE_KITS
from .style import StyleVector, stable_hash

__all__ = ["Layers", "PhrasePlan", "phrase_plan", "candidate_count", "arrangement_key"]

Layer = tuple[tuple[str, float], ...]
_PLUCKY = frozenset({"guitar", "nylon", "eguitar", "sitar", "banjo", "mandolin", "harp", "koto", "shamisen", "dulcimer", "harpsichord", "clavichord", "synth_pluck", "piano", "rhodes", "marimba", "vibraphone", "glockenspiel", "kalimba", "steel_drum", "hang", "bell", "chip_lead"})


@dataclass(frozen=True, kw_only=True)
class Layers:
    """Instrument layers per voice: ``((instrument, gain), ...)``; empty = voice off."""

    lead: Layer = ()
    harm: Layer = ()
    bass: Layer = ()
    pad: Layer = ()
    arp: Layer = ()
    drone: Layer = ()


@dataclass(frozen=True, kw_only=True)
class PhrasePlan:
    """Everything that stays fixed for one phrase (8 bars)."""

    phrase: int
    section: str
    groove: str
    kit: str
    prog: str
    prog_shift: int
    bassline: str
    comp: str
    layers: Layers
    ext: int
    energy: float
    legato: float
    drums_level: float
    perc: float
    glitch: float
    noise: float
    echo: float
    ornament: float
    sync: float
    swing: float
    lead_density: float
    octave: float
    wild: float
    motif_seed: int
    lead_on: tuple[bool, ...]
    breakdown: bool = False
    intro: bool = False
    fill: bool = True
    solo: float = 0.0
    cycle: int = 0


_ARRANGED = ("kit", "groove", "prog", "bassline", "comp", "lead_i", "harm_i", "bass_i", "pad_i", "drone_i")


def arrangement_key(style: StyleVector) -> tuple:
    """What a prompt change must alter to re-arrange the music (and so crossfade at once)."""
    return tuple(style.choice(c) for c in _ARRANGED) + tuple(round(style.get(p) * 4) for p in ("drums", "solo", "pad", "drone"))


def candidate_count(top_k: int) -> int:
    """How many ranked options (or melody steps) ``top_k`` allows: 1 for top_k 1, up to 5."""
    return max(1, min(5, 1 + int(math.log2(max(1, top_k)) / 2.5)))


def _eligible(ranked: list[tuple[str, float]], wild: float, k: int) -> list[tuple[str, float]]:
    """Options a phrase may stray to: within ``k`` of the top and close enough in score.

    At ``wild`` 0 only the top option; at ``wild`` >= 1.7 any positive option.
    """
    if not ranked:
        return []
    floor = ranked[0][1] * max(0.0, 1.0 - 0.6 * wild)
    return [r for r in ranked[:k] if r[1] >= floor]


def _pick(style: StyleVector, category: str, rng: random.Random, wild: float, k: int) -> str:
    ranked = _eligible(style.ranked(category), wild, max(2, k))
    if not ranked:
        return style.choice(category)
    if len(ranked) > 1 and rng.random() < min(0.8, 0.35 * wild):
        return ranked[1 + rng.randrange(len(ranked) - 1)][0]
    return ranked[0][0]


def _layer(style: StyleVector, category: str, rng: random.Random, wild: float, k: int) -> Layer:
    ranked = [(n, s) for n, s in style.ranked(category)[: max(2, k)] if n != "none"]
    if not ranked or style.choice(category) == "none":
        return ()
    top = ranked[0][1]
    chosen = [ranked[0]] + [r for r in ranked[1:2] if r[1] >= 0.45 * top]
    spare = [r for r in _eligible(ranked, wild, max(2, k))[1:] if r not in chosen]
    if spare and rng.random() < min(0.6, 0.25 * wild):
        chosen[-1] = spare[rng.randrange(len(spare))]
    total = sum(s for _, s in chosen)
    return tuple((name, round(math.sqrt(s / total), 4)) for name, s in chosen)


def _wild(ctl, style: StyleVector) -> float:
    w = (1.0 - ctl.guidance / 6.0) * (ctl.temperature / 1.1)
    if ctl.mode == "DIVERSITY":
        w += 0.8
    return max(0.0, min(3.0, w))


#: Song forms in 8-bar phrases (the seed picks one): intro, A, B, breakdown and return.
FORMS = (
    ("intro", "A", "A", "B", "B", "breakdown", "return", "return"),
    ("intro", "A", "B", "A", "breakdown", "B", "return", "return"),
    ("intro", "A", "A", "B", "breakdown", "return", "B", "return"),
)


def _section(phrase: int, ctx, diversity: bool, wild: float) -> tuple[str, int, bool, random.Random]:
    """The phrase's section, form cycle, whether a fill ends it, and its random source.

    QUALITY follows a song form (intro only in the first cycle); later cycles vary the
    sections' decisions. DIVERSITY draws a section per phrase and decides afresh every
    phrase (as does very low guidance).
    """
    form = FORMS[stable_hash(ctx.seed, ctx.epoch, "form") % len(FORMS)]
    if diversity:
        section = ("A", "B", "breakdown", "return")[stable_hash(ctx.seed, ctx.epoch, "section", phrase) % 4]
        cycle, fill = phrase, True
    else:
        cycle, k = divmod(phrase - 1, len(form) - 1) if phrase else (0, -1)
        section, nxt = form[1 + k], form[2 + k if 2 + k < len(form) else 1]
        fill = nxt != section
    key = phrase if diversity or wild > 0.5 else (section, cycle)
    rng = random.Random(stable_hash(ctx.seed, ctx.epoch, "plan", key))
    return section, cycle, fill, rng


def phrase_plan(phrase: int, style: StyleVector, ctl, ctx) -> PhrasePlan:
    """Decide the arrangement of one phrase.

    Args:
        phrase: phrase index since the last reset.
        style: the blended style in force.
        ctl: resolved :class:`compose.Controls`.
        ctx: the :class:`compose.EpochContext`.
    """
    wild = _wild(ctl, style)
    diversity = ctl.mode == "DIVERSITY"
    section, cycle, fill, rng = _section(phrase, ctx, diversity, wild)
    k = candidate_count(ctl.top_k)

    def v(name: str, spread: float = 0.2) -> float:
        return max(0.0, min(1.0, style.get(name) + rng.gauss(0.0, spread * wild)))

    d = ctl.density
    solo = style.get("solo")
    layers = _layers(style, rng, wild, k, d, v)
    groove = _pick(style, "groove", rng, wild, k)
    drums_level = max(0.0, min(1.0, 0.25 + style.get("drums"))) if style.get("drums") > 0.08 else 0.0
    lift = {"intro": -0.15, "B": 0.08, "breakdown": -0.25, "return": 0.12}.get(section, 0.0)
    intro = section == "intro"
    return PhrasePlan(
        phrase=phrase,
        section=section,
        groove=groove,
        kit=_pick(style, "kit", rng, wild, k),
        prog=_pick(style, "prog", rng, wild, k),
        prog_shift=(2 if section == "B" else 0) + (4 * (cycle % 2) if section != "B" else 0) + (rng.randrange(4) if diversity else 0),
        bassline=_pick(style, "bassline", rng, wild, k),
        comp=_pick(style, "comp", rng, wild, k),
        layers=layers,
        ext=0 if v("ext") < 0.4 else (1 if v("ext") < 0.75 else 2),
        energy=max(0.0, min(1.0, v("energy") + lift)),
        legato=v("legato"),
        drums_level=drums_level,
        perc=v("perc"),
        glitch=style.get("glitch"),
        noise=style.get("noise"),
        echo=style.get("echo"),
        ornament=v("ornament"),
        sync=v("sync"),
        swing=style.get("swing"),
        lead_density=v("lead") + {"B": 0.15, "return": 0.15, "intro": -0.25, "breakdown": -0.15}.get(section, 0.0),
        octave=style.get("octave") + (1.0 if section == "B" and style.get("octave") <= 0 and solo < 0.5 else 0.0),
        wild=wild,
        motif_seed=stable_hash(ctx.seed, ctx.epoch, "motif", phrase if diversity else ("B" if section == "B" else "A"), cycle if section == "B" else 0, rng.randrange(3) if wild > 1.2 else 0),
        lead_on=tuple(layers.lead != () for _ in range(8)),
        breakdown=section == "breakdown",
        intro=intro,
        fill=fill,
        solo=solo,
        cycle=cycle,
    )


def _layers(style: StyleVector, rng: random.Random, wild: float, k: int, d: float, v) -> Layers:
    lead = _layer(style, "lead_i", rng, wild, k) if v("lead") > 0.15 else ()
    harm = _layer(style, "harm_i", rng, wild, k) if style.choice("comp") != "none" else ()
    pad = ()
    if v("pad") > 0.5 or (d > 0.6 and v("pad") > 0.2) or style.get("choir") > 0.5:
        pad = _layer(style, "pad_i", rng, wild, k)
        if style.get("choir") > 0.5 and all(n != "choir" for n, _ in pad):
            pad = pad[:1] + (("choir", 0.7),)
    arp = ()
    if (v("arp") > 0.5 and d > 0.45) or d > 0.8:
        names = [n for n, _ in lead if n in _PLUCKY and all(n != h for h, _ in harm)] + [n for n, _ in harm if n in _PLUCKY]
        if names or style.choice("kit") in MACHINE_KITS:  # no synth arpeggio in an acoustic palette
            arp = ((names[0] if names else "synth_pluck", 0.8),)
    drone = _layer(style, "drone_i", rng, wild, k) if v("drone") > 0.3 else ()
    if style.get("swirl") > 0.4:
        pad = pad[:1] + (("phaser_pad", round(0.5 + 0.5 * style.get("swirl"), 3)),)
    bass = _layer(style, "bass_i", rng, wild, k)
    if style.get("wobble") > 0.35:  # worn-tape pitch wobble on the melodic layers
        harm, pad, lead = (tuple((n + TAPE, g) for n, g in layer) for layer in (harm, pad, lead))
    return Layers(lead=lead, harm=harm, bass=bass, pad=pad, arp=arp, drone=drone)
