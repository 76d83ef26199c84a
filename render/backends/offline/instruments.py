"""The pitched instruments: one line of synthesis parameters each (data only).

``spec`` keys understood by :mod:`.voices`:

* ``shape``: harmonic spectrum (saw, square, triangle, pluck, organ, reed, sine), or
  ``partials``/``amps`` for inharmonic (struck) instruments; ``slope``, ``pos`` (pluck
  position), ``even``, ``inharm`` (string stiffness), ``nh`` (max partials), ``tilt``,
  ``octave`` (level of a second choir of strings an octave up: a harpsichord's 4' stop).
* ``bands``: ``(lo, hi, (attack_s, decay_s, sustain[, swell_s]))``: partials with ratio
  in ``[lo, hi)`` share that envelope; ``sustain == 0`` means a free decay that gets
  shorter for higher and darker notes.
* ``vib``: ``(rate_hz, depth_cents, delay_s)`` (the depth fades in over ``delay_s``);
  ``chorus``: detune of a second voice (ratio - 1); ``ens``: ``(count, cents)`` an
  ensemble of detuned voices, each with its own vibrato rate and phase (section strings,
  choir, pads); ``noise``: ``(level, decay_s)`` breath/bow/pick noise; ``scrape``: a second
  noise burst at the onset (bow scrape); ``formants``: a vowel (aa, oo, ee, oh).
* Whole-note stages (:mod:`.timbre`): ``body``: a resonating body (violin, cello, harp,
  harpsichord); ``amp``: ``(drive_db, cabinet_hz)`` amp and speaker cabinet; ``sweep``:
  ``(lo_hz, hi_hz, rise_s, lfo_hz, resonance)`` a resonant low-pass that opens and wobbles.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

__all__ = ["Instrument", "INSTRUMENTS", "instrument", "TAPE"]


@dataclass(frozen=True, kw_only=True)
class Instrument:
    """A pitched instrument.

    Attributes:
        name: option name used by the vocabulary (``lead_i:sitar``).
        group: mixer group, ``"bass"`` or ``"other"``.
        max_s: longest note held in the cache, in seconds.
        release_s: fade applied when a note is cut short, in seconds.
        gain: loudness trim (linear).
        low, high: playable MIDI range (notes are folded into it by octaves).
    """

    name: str
    spec: dict[str, Any] = field(default_factory=dict)
    group: str = "other"
    max_s: float = 2.0
    release_s: float = 0.04
    gain: float = 1.0
    low: int = 40
    high: int = 96


def _i(name: str, max_s: float, release_s: float, gain: float, low: int, high: int, group: str = "other", **spec: Any) -> Instrument:
    return Instrument(name=name, spec=spec, group=group, max_s=max_s, release_s=release_s, gain=gain, low=low, high=high)


def _PLUCK3(attack_s: float, ring_s: float, loss: float = 0.5) -> dict[str, Any]:
    """Karplus-Strong-style decays: ``ring_s`` is the fundamental's decay time constant."""
    return {"ks": (attack_s, ring_s, loss)}
_SUST2 = lambda a, d, s, sw=0.0: [(0, 2.5, (a, d, s)), (2.5, 999, (a * 1.5, d, s * 0.9, sw))]  # noqa: E731

_LIST = [
    # plucked and struck strings
    _i("guitar", 2.5, 0.05, 0.9, 40, 84, shape="pluck", pos=0.18, slope=1.25, **_PLUCK3(0.002, 1.6), noise=(0.04, 0.02)),
    _i("nylon", 2.2, 0.05, 0.9, 40, 84, shape="pluck", pos=0.22, slope=1.5, **_PLUCK3(0.003, 1.3), noise=(0.03, 0.02)),
    _i("eguitar", 2.5, 0.05, 0.8, 40, 86, shape="pluck", pos=0.25, slope=1.1, **_PLUCK3(0.002, 2.0)),
    _i("dist_guitar", 2.5, 0.2, 0.55, 40, 88, shape="pluck", pos=0.15, slope=1.0, **_PLUCK3(0.002, 2.5), chorus=0.003, amp=(30.0, 4000.0), noise=(0.05, 0.01)),
    _i("slide_guitar", 2.5, 0.08, 0.8, 45, 88, shape="pluck", pos=0.2, slope=1.0, **_PLUCK3(0.004, 2.5), vib=(5.5, 22, 0.15)),
    _i("sitar", 2.5, 0.08, 0.8, 52, 91, shape="pluck", pos=0.07, slope=0.7, nh=60, chorus=0.003, bands=[(0, 1.5, (0.002, 2.6, 0.0)), (1.5, 6, (0.003, 2.2, 0.0)), (6, 999, (0.002, 1.4, 0.0, 0.05))], noise=(0.05, 0.01)),
    _i("tanpura", 4.0, 0.3, 0.5, 36, 64, shape="pluck", pos=0.06, slope=0.8, nh=50, bands=[(0, 2, (0.01, 3.5, 0.0)), (2, 999, (0.05, 3.0, 0.0, 0.2))]),
    _i("banjo", 1.2, 0.04, 0.85, 48, 91, shape="pluck", pos=0.08, slope=0.9, **_PLUCK3(0.001, 0.55), noise=(0.06, 0.01)),
    _i("mandolin", 1.2, 0.04, 0.8, 55, 93, shape="pluck", pos=0.12, slope=1.0, **_PLUCK3(0.001, 0.7), chorus=0.002),
    _i("harp", 4.0, 0.8, 0.7, 36, 96, shape="pluck", pos=0.2, slope=1.45, **_PLUCK3(0.003, 4.0, 1.5), chorus=0.001, body="harp", noise=(0.12, 0.003)),
    _i("koto", 2.0, 0.06, 0.85, 50, 91, shape="pluck", pos=0.14, slope=1.05, **_PLUCK3(0.001, 1.3)),
    _i("shamisen", 1.0, 0.04, 0.85, 50, 88, shape="pluck", pos=0.07, slope=0.8, **_PLUCK3(0.001, 0.45), noise=(0.1, 0.008)),
    _i("dulcimer", 2.0, 0.06, 0.85, 50, 93, shape="pluck", pos=0.12, slope=1.0, **_PLUCK3(0.001, 1.6), chorus=0.0015),
    _i("harpsichord", 1.5, 0.4, 0.8, 41, 89, shape="pluck", pos=0.1, slope=0.3, tilt=5.0, nh=60, octave=0.8, **_PLUCK3(0.0005, 4.0, 0.01), chorus=0.0045, body="harpsichord", noise=(0.25, 0.002)),
    _i("clavichord", 1.0, 0.03, 0.85, 45, 86, shape="pluck", pos=0.12, slope=0.9, **_PLUCK3(0.001, 0.7)),
    _i("synth_pluck", 1.0, 0.03, 0.75, 45, 93, shape="saw", slope=1.0, bands=[(0, 3, (0.002, 0.25, 0.0)), (3, 999, (0.002, 0.08, 0.0))], chorus=0.006),
    # keys
    _i("piano", 3.0, 0.12, 0.9, 33, 100, shape="pluck", pos=0.12, slope=1.35, inharm=0.0004, **_PLUCK3(0.002, 2.6), noise=(0.03, 0.01)),
    _i("rhodes", 2.5, 0.12, 0.9, 36, 96, partials=[1, 2, 3, 7.2, 14.0], amps=[1, 0.25, 0.08, 0.22, 0.06], bands=[(0, 2.5, (0.002, 2.5, 0.0)), (2.5, 999, (0.001, 0.12, 0.0))], random_phase=False),
    _i("organ", 2.5, 0.03, 0.6, 36, 96, shape="organ", nh=16, tilt=2.0, bands=[(0, 999, (0.008, 0.0, 1.0))], vib=(6.5, 8, 0.0)),
    _i("accordion", 2.5, 0.05, 0.55, 45, 93, shape="reed", slope=0.8, bands=[(0, 999, (0.02, 0.0, 1.0))], chorus=0.004),
    _i("harmonica", 2.0, 0.06, 0.6, 55, 96, shape="reed", slope=0.9, even=0.6, bands=_SUST2(0.03, 0.4, 0.8), vib=(5.5, 15, 0.2), noise=(0.03, 0.0)),
    # struck / mallets (inharmonic partials)
    _i("marimba", 1.2, 0.05, 0.95, 45, 96, partials=[1, 3.93, 9.3], amps=[1, 0.35, 0.12], bands=[(0, 2, (0.001, 0.9, 0.0)), (2, 999, (0.001, 0.12, 0.0))], random_phase=False),
    _i("vibraphone", 3.0, 0.1, 0.85, 53, 96, partials=[1, 3.93, 9.3], amps=[1, 0.25, 0.05], bands=[(0, 2, (0.001, 3.0, 0.0)), (2, 999, (0.001, 0.3, 0.0))], vib=(5.5, 4, 0.0), random_phase=False),
    _i("glockenspiel", 2.0, 0.05, 0.7, 72, 108, partials=[1, 2.76, 5.4, 8.93], amps=[1, 0.4, 0.2, 0.1], bands=[(0, 2, (0.0005, 1.6, 0.0)), (2, 999, (0.0005, 0.35, 0.0))], random_phase=False),
    _i("kalimba", 1.5, 0.05, 0.9, 55, 93, partials=[1, 5.9, 13.3], amps=[1, 0.3, 0.1], bands=[(0, 2, (0.001, 1.1, 0.0)), (2, 999, (0.001, 0.08, 0.0))], random_phase=False),
    _i("steel_drum", 1.5, 0.06, 0.85, 55, 93, partials=[1, 2, 3, 4.1], amps=[1, 0.6, 0.3, 0.15], bands=[(0, 1.5, (0.001, 1.0, 0.0)), (1.5, 999, (0.001, 0.35, 0.0))]),
    _i("hang", 2.5, 0.1, 0.9, 50, 86, partials=[1, 2, 2.98], amps=[1, 0.45, 0.25], bands=[(0, 1.5, (0.003, 2.2, 0.0)), (1.5, 999, (0.002, 0.7, 0.0))], random_phase=False),
    _i("bell", 3.0, 0.1, 0.6, 60, 100, partials=[1, 2, 2.4, 3.0, 4.2, 5.4], amps=[1, 0.6, 0.4, 0.3, 0.2, 0.12], bands=[(0, 2.1, (0.001, 2.5, 0.0)), (2.1, 999, (0.001, 0.6, 0.0))], random_phase=False),
    # winds and brass
    _i("flute", 2.0, 0.06, 0.75, 60, 98, shape="sine", h2=0.22, h3=0.08, nh=3, bands=[(0, 999, (0.05, 0.0, 1.0))], vib=(5.0, 16, 0.2), noise=(0.12, 0.0)),
    _i("ocarina", 2.0, 0.06, 0.8, 60, 96, shape="sine", h2=0.05, h3=0.02, nh=3, bands=[(0, 999, (0.03, 0.0, 1.0))], vib=(5.5, 10, 0.3), noise=(0.025, 0.0)),
    _i("woodwinds", 2.5, 0.08, 0.7, 50, 93, shape="reed", slope=1.3, even=0.4, bands=[(0, 999, (0.05, 0.0, 1.0))], vib=(5.0, 10, 0.3), chorus=0.004, noise=(0.02, 0.0)),
    _i("clarinet", 2.0, 0.06, 0.75, 50, 91, shape="reed", slope=1.0, even=0.08, bands=_SUST2(0.03, 0.3, 0.85), vib=(5.0, 6, 0.4), noise=(0.02, 0.0)),
    _i("bass_clarinet", 2.0, 0.06, 0.8, 34, 72, shape="reed", slope=1.1, even=0.08, bands=_SUST2(0.03, 0.3, 0.85), vib=(4.5, 5, 0.4), group="other"),
    _i("sax", 2.0, 0.06, 0.65, 49, 84, shape="reed", slope=0.75, even=0.8, formants="aa", bands=_SUST2(0.025, 0.4, 0.8, 0.05), vib=(5.2, 16, 0.3), noise=(0.04, 0.0)),
    _i("trumpet", 2.0, 0.06, 0.6, 55, 86, shape="saw", slope=0.8, bands=_SUST2(0.025, 0.4, 0.85, 0.06), vib=(5.5, 10, 0.35)),
    _i("brass", 2.5, 0.08, 0.55, 45, 84, shape="saw", slope=0.9, bands=_SUST2(0.04, 0.5, 0.85, 0.1), vib=(5.0, 6, 0.4), chorus=0.003),
    _i("tuba", 2.0, 0.06, 0.9, 28, 58, shape="saw", slope=1.4, tilt=0.6, bands=_SUST2(0.03, 0.4, 0.8, 0.05), group="bass"),
    _i("bagpipe", 2.5, 0.04, 0.5, 55, 89, shape="reed", slope=0.6, even=0.7, bands=[(0, 999, (0.01, 0.0, 1.0))], chorus=0.002),
    # bowed strings and voices
    _i("strings", 4.5, 0.3, 0.55, 40, 96, shape="saw", slope=1.1, body="violin", bands=_SUST2(0.25, 0.0, 1.0, 0.15), vib=(5.4, 14, 0.25), ens=(5, 12), noise=(0.02, 0.0)),
    _i("violin", 2.5, 0.12, 0.6, 55, 100, shape="saw", slope=0.7, tilt=2.0, body="violin", bands=_SUST2(0.08, 0.0, 1.0, 0.05), vib=(5.8, 25, 0.3), noise=(0.06, 0.0), scrape=(0.12, 0.03)),
    _i("fiddle", 2.0, 0.08, 0.6, 55, 96, shape="saw", slope=0.7, tilt=2.0, body="violin", bands=_SUST2(0.03, 0.3, 0.85), vib=(6.0, 14, 0.25), noise=(0.07, 0.0), scrape=(0.16, 0.025)),
    _i("cello", 3.0, 0.15, 0.75, 36, 64, shape="saw", slope=1.0, tilt=0.7, body="cello", bands=_SUST2(0.1, 0.0, 1.0, 0.08), vib=(5.0, 20, 0.3), noise=(0.04, 0.0), scrape=(0.1, 0.04), group="other"),
    _i("choir", 4.5, 0.3, 0.7, 48, 79, shape="saw", slope=1.1, formants="aa", bands=[(0, 999, (0.2, 0.0, 1.0))], vib=(5.0, 25, 0.3), ens=(8, 14), noise=(0.03, 0.0)),
    _i("vocal_aa", 3.0, 0.15, 1.1, 53, 81, shape="saw", slope=0.9, formants="aa", bands=[(0, 999, (0.08, 0.0, 1.0))], vib=(5.3, 25, 0.25), noise=(0.01, 0.0)),
    _i("vocal_oo", 3.0, 0.15, 1.25, 53, 81, shape="saw", slope=1.0, formants="oo", bands=[(0, 999, (0.08, 0.0, 1.0))], vib=(5.3, 25, 0.25), noise=(0.01, 0.0)),
    _i("mellotron", 3.5, 0.2, 0.6, 43, 91, shape="saw", slope=1.4, tilt=0.6, bands=[(0, 999, (0.05, 0.0, 1.0))], vib=(2.5, 12, 0.0), chorus=0.004),
    # synths
    _i("synth_lead", 2.0, 0.05, 0.5, 48, 96, shape="saw", slope=1.0, bands=_SUST2(0.005, 0.3, 0.75), vib=(5.5, 8, 0.35), chorus=0.004),
    _i("supersaw", 2.5, 0.08, 0.45, 45, 96, shape="saw", slope=1.0, bands=_SUST2(0.005, 0.5, 0.8), chorus=0.008),
    _i("chip_lead", 1.5, 0.01, 0.6, 48, 100, shape="square", nh=60, tilt=3.0, bands=[(0, 999, (0.001, 0.0, 1.0))], random_phase=False),
    _i("moog", 2.0, 0.05, 0.55, 36, 91, shape="saw", slope=1.0, tilt=0.8, bands=_SUST2(0.004, 0.25, 0.6), chorus=0.003),
    _i("acid", 1.0, 0.02, 0.5, 33, 72, shape="saw", slope=0.8, bands=[(0, 3, (0.002, 0.3, 0.5)), (3, 8, (0.002, 0.12, 0.1)), (8, 999, (0.002, 0.05, 0.0))], group="bass"),
    _i("synth_pad", 4.5, 0.4, 0.5, 45, 88, shape="saw", slope=1.0, tilt=2.0, bands=[(0, 999, (0.15, 0.0, 1.0))], ens=(5, 14), sweep=(300.0, 3000.0, 0.6, 1.6, 0.95)),
    _i("phaser_pad", 4.5, 0.4, 0.5, 48, 84, shape="saw", slope=1.0, tilt=0.9, bands=[(0, 4, (0.3, 0.0, 1.0)), (4, 999, (0.3, 0.0, 1.0))], chorus=0.010, vib=(0.45, 20, 0.0)),
    _i("warm_pad", 4.5, 0.4, 0.55, 45, 84, shape="triangle", tilt=0.6, bands=[(0, 999, (0.4, 0.0, 1.0))], chorus=0.005, vib=(0.25, 8, 0.0)),
    _i("drone_synth", 4.5, 0.5, 0.6, 28, 60, shape="saw", slope=1.3, tilt=0.4, bands=[(0, 999, (0.8, 0.0, 1.0))], chorus=0.003, vib=(0.15, 6, 0.0)),
    _i("bagpipe_drone", 4.5, 0.3, 0.4, 38, 62, shape="reed", slope=0.7, even=0.6, bands=[(0, 999, (0.1, 0.0, 1.0))]),
    _i("didgeridoo", 4.5, 0.3, 0.8, 28, 46, shape="saw", slope=0.9, formants="oo", bands=[(0, 3, (0.05, 0.0, 1.0)), (3, 999, (0.05, 0.0, 1.0))], vib=(2.3, 25, 0.0), noise=(0.04, 0.0)),
    # basses
    _i("bass_e", 2.0, 0.04, 1.0, 28, 55, shape="pluck", pos=0.2, slope=1.8, **_PLUCK3(0.003, 1.8), group="bass"),
    _i("bass_pick", 2.0, 0.04, 0.95, 28, 55, shape="pluck", pos=0.1, slope=1.3, **_PLUCK3(0.001, 1.5), group="bass"),
    _i("bass_upright", 1.6, 0.05, 1.0, 28, 55, shape="pluck", pos=0.3, slope=2.0, **_PLUCK3(0.006, 1.1), noise=(0.02, 0.02), group="bass"),
    _i("bass_synth", 2.0, 0.03, 0.9, 28, 55, shape="saw", slope=1.2, tilt=0.5, bands=[(0, 2.5, (0.003, 0.6, 0.7)), (2.5, 999, (0.003, 0.15, 0.2))], group="bass"),
    _i("moog_bass", 2.0, 0.03, 0.95, 28, 55, shape="saw", slope=1.0, tilt=0.6, bands=[(0, 2.5, (0.002, 0.5, 0.7)), (2.5, 999, (0.002, 0.1, 0.15))], group="bass"),
    _i("wobble_bass", 2.0, 0.03, 0.8, 28, 52, shape="square", even=0.5, tilt=0.7, bands=[(0, 2.5, (0.003, 0.0, 1.0)), (2.5, 999, (0.003, 0.0, 1.0))], vib=(4.0, 5, 0.0), group="bass"),
    _i("bass_808", 2.5, 0.06, 1.0, 28, 52, shape="sine", h2=0.12, h3=0.04, nh=3, bands=[(0, 999, (0.002, 1.6, 0.0))], group="bass", random_phase=False),
    _i("chip_bass", 1.5, 0.01, 0.9, 28, 60, shape="triangle", nh=30, bands=[(0, 999, (0.001, 0.0, 1.0))], group="bass", random_phase=False),
]

INSTRUMENTS: dict[str, Instrument] = {inst.name: inst for inst in _LIST}

#: Suffix of a "worn tape" variant (slow, deep pitch wobble), e.g. ``rhodes~tape``.
TAPE = "~tape"


@lru_cache(maxsize=None)
def instrument(name: str) -> Instrument | None:
    """The instrument called ``name`` (including ``~tape`` variants), or None for drums."""
    if name.endswith(TAPE):
        base = INSTRUMENTS.get(name[: -len(TAPE)])
        if base is None:
            return None
        spec = {**base.spec, "vib": (0.7, 22.0, 0.0)}
        return replace(base, name=name, spec=spec)
    return INSTRUMENTS.get(name)
