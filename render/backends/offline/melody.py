"""Lead melodies: a 2-bar motif per section, varied, answered and ornamented.

A motif is a list of ``(step, relative scale step, duration, velocity)`` over 32 steps.
It is realised against the current chord (it moves with the harmony) and its strong-beat
notes are snapped to chord tones, so every pitch stays in the scale.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache

from .arrange import PhrasePlan, candidate_count
from .harmony import GROUP_OTHER, chord_tones, fold, scale_below, scale_midi
from .instruments import instrument
from .style import stable_hash

__all__ = ["lead_bar", "lead_centre", "motif"]

_WEIGHT = [4.0, 0.5, 1.5, 0.5, 3.0, 0.5, 1.5, 0.5, 3.5, 0.5, 1.5, 0.5, 3.0, 0.5, 1.5, 0.8]


@lru_cache(maxsize=256)
def motif(seed: int, notes_per_bar: int, sync: float, legato: float, temperature: float, top_k: int) -> tuple[tuple[float, int, float, float], ...]:
    """A deterministic 2-bar motif.

    Returns:
        ``(step 0..31, relative scale step, duration in steps, velocity)`` sorted by step.
    """
    rng = random.Random(seed)
    out: list[tuple[float, int, float, float]] = []
    rel = rng.choice((0, 2, 4))
    spread = 0.6 + 0.9 * temperature / 1.1
    steps = [s for s in range(-4, 5)]
    probs = sorted(((math.exp(-abs(s) / spread) * (0.4 if s == 0 else 1.0), s) for s in steps), reverse=True)
    probs = probs[: max(2, candidate_count(top_k) + 2)]
    for half in (0, 16):
        weights = [w + (sync * 2.0 if i % 2 else 0.0) for i, w in enumerate(_WEIGHT)]
        chosen = sorted(_weighted_sample(rng, list(range(16)), weights, notes_per_bar))
        if half == 0 and 0 not in chosen:
            chosen = sorted(chosen[1:] + [0]) if chosen else [0]
        for j, step in enumerate(chosen):
            end = chosen[j + 1] if j + 1 < len(chosen) else 16
            dur = max(0.5, (end - step) * (0.45 + 0.5 * legato))
            vel = 0.95 if step % 4 == 0 else 0.75
            out.append((float(step + half), rel, dur, vel))
            rel += rng.choices([s for _, s in probs], weights=[p for p, _ in probs])[0]
            rel = max(-4, min(8, rel))
    return tuple(out)


def _weighted_sample(rng: random.Random, items: list[int], weights: list[float], k: int) -> list[int]:
    items, weights = list(items), list(weights)
    out = []
    for _ in range(min(k, len(items))):
        i = rng.choices(range(len(items)), weights=weights)[0]
        out.append(items.pop(i))
        weights.pop(i)
    return out




#: Where a lead instrument's melodies sit when its range alone would misplace them (a
#: guitar sings around E4, not D5; a harp's melody rings above its arpeggios, around E5);
#: other instruments centre on D5 or mid-range.
_HOME = {"guitar": 64, "nylon": 64, "eguitar": 67, "dist_guitar": 64, "slide_guitar": 67, "banjo": 67,
         "mandolin": 72, "harp": 76, "sitar": 67, "vocal_aa": 69, "vocal_oo": 67, "choir": 67}


def lead_centre(inst: str, octave: float, brightness: float) -> int:
    """The lead's middle pitch: idiomatic for its instrument, moved by octave and brightness."""
    spec = instrument(inst)
    low, high = (spec.low, spec.high) if spec else (48, 96)
    home = _HOME.get(inst.split("~")[0]) or (max(low + 14, min(high - 8, 74)) if high > 76 else (low + high) // 2 + 2)
    shift = int(round(octave)) * 12 + (12 if brightness > 0.75 else 0) - (12 if brightness < 0.2 else 0)
    return max(low + 7, min(high - 5, home + shift))


def lead_bar(bar: int, pos: int, degree: int, plan: PhrasePlan, ctl, ctx) -> list:
    """The lead's notes in one bar of the phrase (see module docstring)."""
    n = max(1, min(9, round(1 + 7 * ctl.density * (0.4 + plan.lead_density))))
    answer = pos >= 6
    seed = stable_hash(plan.motif_seed, "answer" if answer else "call")
    mot = motif(seed, n, plan.sync, plan.legato, ctl.temperature, ctl.top_k)
    half = (pos % 2) * 16
    centre = lead_centre(plan.layers.lead[0][0], plan.octave, ctl.brightness)
    base = 7 * ((centre - ctx.tonic_pc) // 12)
    shift = ((degree - (5 if ctx.minor else 0)) + 3) % 7 - 3
    chord_pcs = {scale_midi(ctx.tonic_pc, t) % 12 for t in chord_tones(degree, 0)}
    rng = random.Random(stable_hash(plan.motif_seed, "vary", bar))
    notes = []
    lead = plan.layers.lead
    for step, rel, dur, vel in mot:
        if not half <= step < half + 16:
            continue
        s = step - half
        if pos in (2, 3) and rng.random() < 0.3 + 0.3 * plan.wild:
            rel += rng.choice((-1, 1, 2))
        idx = base + shift + rel + (-2 if ctx.minor else 0)
        midi = scale_midi(ctx.tonic_pc, idx)
        if s % 4 == 0 and midi % 12 not in chord_pcs:
            up, down = scale_midi(ctx.tonic_pc, idx + 1), scale_midi(ctx.tonic_pc, idx - 1)
            midi = up if up % 12 in chord_pcs else down
        if answer and pos == 7 and s == max(m[0] - half for m in mot if half <= m[0] < half + 16):
            midi = fold(scale_midi(ctx.tonic_pc, degree), centre - 7, centre + 5)
            dur = 16 - s
        for layer, (inst, gain) in enumerate(lead):
            pitch = midi if layer == 0 else scale_below(midi, ctx.tonic_pc, 2)  # second layer: a third below
            notes.append((s, GROUP_OTHER, inst, pitch, dur, vel * gain, 0.12 if layer == 0 else -0.2))
            if layer == 0 and plan.ornament > 0.35 and s >= 1 and rng.random() < plan.ornament * 0.6:
                grace = scale_midi(ctx.tonic_pc, idx + 1)
                notes.append((s - 0.5, GROUP_OTHER, inst, grace, 0.25, vel * gain * 0.6, 0.12))
                notes.append((s - 0.25, GROUP_OTHER, inst, midi, 0.25, vel * gain * 0.6, 0.12))
            if plan.echo > 0.3:
                for k, (delay, amt) in enumerate(((3.0, 0.4), (6.0, 0.18))):
                    if s + delay < 16:
                        notes.append((s + delay, GROUP_OTHER, inst, pitch, dur, vel * gain * amt * plan.echo, -0.4 if k == 0 else 0.5))
    return notes
