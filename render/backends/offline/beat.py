"""The drum part of one bar: the groove, its beat accents, intro and breakdown sparseness, fills.

The beat is made unambiguous by *how many* sounds start on each beat, not only by
velocities (beat trackers weigh onsets in decibels): beat 1 gets the kick with the bass
and the chord, 2 and 4 the backbeat, 3 the kick alone, and the off-beats only light,
high sounds. A fill ends every section (every second bar when the drums play alone).
Density adds parts: kick and snare, then hats, then open hats, ride, china and
percussion, and the hats fill in the 16ths: a drum machine's above density 0.4, a
drummer's, lighter, above 0.75 (from 100 bpm: slower, they would read as the beat).
"""

from __future__ import annotations

import random

from .harmony import GROUP_DRUMS
from .patterns import GROOVES, KITS, MACHINE_KITS, vel_of
from .style import stable_hash

__all__ = ["drum_bar", "ACCENT", "keeps_beat"]

#: Velocity per 16th step: 1 > 2 = 4 > 3 > 8th off-beats > 16ths.
ACCENT = (1.0, 0.45, 0.6, 0.45, 0.82, 0.45, 0.6, 0.45, 0.7, 0.45, 0.6, 0.45, 0.82, 0.45, 0.6, 0.5)
_PANS = {"kick": 0.0, "snare": 0.05, "hat": 0.3, "ohat": 0.3, "ride": -0.3, "china": -0.4, "perc": -0.35, "perc2": 0.4}
_LIGHT = frozenset({"hat", "ohat", "ride", "perc", "perc2"})
_FALLBACK = {"china": "crash"}  # a kit without a china plays the groove's china part on its crash


def keeps_beat(step: float, bpm: float, role: str = "") -> bool:
    """Whether an onset at ``step`` keeps the beat unambiguous at ``bpm``.

    Slow tempos (< 100 bpm) keep everything but the hats on the beats (else the 8ths
    read as the beat); fast ones (> 150 bpm) leave beat 3 to the kick and keep
    syncopations out (else half or 2/3 of the tempo reads as the beat); in between
    only the odd 16ths of the accompaniment go. The lead and the hats are free.
    """
    if abs(step - round(step)) > 0.2:  # grace notes and the like
        return True
    s = int(round(step)) % 16
    if bpm < 100:
        return (role == "hat" and s % 4 != 2) or s % 4 == 0
    if bpm > 150:
        return (role in ("hat", "ohat") and s % 2 == 0 and s != 8) or s == 0
    return role in ("hat", "kick", "snare") or s % 2 == 0


def _roles(pos: int, plan, d: float) -> list[str]:
    if plan.breakdown:
        return ["hat"] if pos >= 4 and d > 0.3 else []
    if plan.intro and pos < 2:
        return ["kick", "hat"]
    roles = ["kick", "snare"]
    if d > 0.15:
        roles.append("hat")
    if d > 0.3:
        roles += ["ohat", "ride", "china"]
    if d > 0.4 or plan.perc > 0.5:
        roles += ["perc", "perc2"]
    return roles


def drum_bar(bar: int, pos: int, plan, ctl, ctx) -> list[tuple]:
    """The drum notes of one bar (see module docstring)."""
    groove = GROOVES[plan.groove]
    kit = KITS[plan.kit]
    if not groove or not kit or plan.drums_level <= 0.0:
        return []
    d = ctl.density
    rng = random.Random(stable_hash(ctx.seed, ctx.epoch, "drums", bar))
    energy = (0.55 + 0.5 * plan.energy) * plan.drums_level * (1.0 - 0.45 * plan.solo)
    notes: list[tuple] = []
    featured = _featured(plan)  # the drums alone: a drummer's fill every second bar
    fill_from = 12 if (pos == 7 and plan.fill or featured and pos % 2 == 1) and d > 0.3 and not plan.breakdown else 16
    for role in _roles(pos, plan, d):
        pattern, sound = groove.get(role), kit.get(role, kit.get(_FALLBACK.get(role, "")))
        if not pattern or not sound:
            continue
        for step, ch in enumerate(pattern):
            vel = vel_of(ch)
            if vel == 0.0 and role == "hat" and step % 2 == 1 and ctl.bpm >= 100:
                vel = _sixteenth(d, plan.kit in MACHINE_KITS)
            if (ch == "g" and d < 0.5) or (ch == "o" and d < 0.22 and role in ("kick", "hat")) or vel <= 0.0:
                continue
            if (step >= fill_from and role != "kick") or not keeps_beat(step, ctl.bpm, role):
                continue
            if role in _LIGHT and step % 4 == 0 and step != 0 and rng.random() < 0.2:
                continue  # light sounds sometimes leave a beat to the kick and snare
            vel *= ACCENT[step] * energy * (1.0 + (0.12 + 0.15 * plan.wild) * (rng.random() - 0.5))
            if role == "hat":
                vel *= 0.55 + 0.5 * ctl.brightness
            notes.append((float(step), GROUP_DRUMS, sound, 0, None, vel, _PANS[role]))
    if ctl.bpm > 150 and "snare" in kit and not plan.breakdown and not (plan.intro and pos < 2):
        notes = _fast(notes, kit, energy)
    if fill_from < 16:
        notes += _fill(kit, plan, rng, energy)
    if (pos == 0 or (plan.breakdown and pos == 4)) and "crash" in kit and plan.energy > 0.45 and d > 0.3 and not plan.breakdown:
        notes.append((0.0, GROUP_DRUMS, kit["crash"], 0, None, 0.45 * energy, -0.25))
    return notes


def _sixteenth(d: float, machine: bool) -> float:
    """Velocity of a hat density adds on an empty 16th: a drum machine's from density 0.4,
    a drummer's, lighter, from 0.75 (else 0: none)."""
    if machine:
        return 0.5 + 0.5 * (d - 0.4) if d > 0.4 else 0.0
    return 0.25 if d > 0.75 else 0.0


def _fast(notes: list[tuple], kit: dict, energy: float) -> list[tuple]:
    """Fast tempos: a plain backbeat, beat 1 accented by the crash."""
    notes = [n for n in notes if n[2] != kit["snare"]]
    notes += [(float(st), GROUP_DRUMS, kit["snare"], 0, None, 0.8 * energy, 0.05) for st in (4, 12)]
    if "crash" in kit:
        notes.append((0.0, GROUP_DRUMS, kit["crash"], 0, None, 0.5 * energy, -0.25))
    return notes


def _featured(plan) -> bool:
    """Whether the drums play alone (no pitched layer at all): they are the featured part."""
    layers = plan.layers
    return not (layers.lead or layers.harm or layers.bass or layers.pad or layers.arp or layers.drone)


def _fill(kit: dict, plan, rng: random.Random, energy: float) -> list[tuple]:
    """A fill over beats 3-4 of a section's last bar (8ths, then 16ths when busy); a kit
    with high and floor toms runs down them."""
    toms = plan.kit in ("rock", "hand", "tabla", "acoustic", "orchestral")
    sound = kit.get("perc2" if toms else "snare", kit["snare"])
    steps = (12, 13, 14, 15) if plan.energy > 0.55 else (12, 14)
    run = [kit["tom_hi"], kit["tom_hi"], kit["perc2"], kit["tom_lo"]] if "tom_hi" in kit else None
    notes = []
    for j, step in enumerate(steps):
        inst = run[(step - 12) % 4] if run else sound if j % 2 == 0 or not toms else kit["snare"]
        notes.append((float(step), GROUP_DRUMS, inst, 0, None, (0.5 + 0.1 * j) * energy * (0.9 + 0.2 * rng.random()), -0.2 + 0.13 * j))
    return notes
