"""What the quality bench renders: one list of render jobs per section.

Everything here is deterministic: prompts, seeds, tempos, scales and durations are
constants or come from the command line. A job is a timeline mapping in the documented
format (docs/timeline.md) plus the facts the analysis needs about it (``meta``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The 50 MagnaTagATune tags of musicnn's MTT models (musicnn/configuration.py).
MTT_TAGS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)

# Instrument and genre prompts and the MTT tag each should earn. One prompt per tag, so
# a prompt's render competes only with renders of other concepts.
TAGGER_PROMPTS: dict[str, str] = {
    "Piano": "piano", "Guitar": "guitar", "Violin": "violin", "Cello": "cello",
    "Flute": "flute", "Harp": "harp", "Harpsichord": "harpsichord", "Sitar": "sitar",
    "Choir": "choir", "Strings": "strings", "Drums": "drums", "Synth Pads": "synth",
    "Heavy Metal": "metal", "Techno": "techno", "Country": "country", "Ambient": "ambient",
    "Baroque": "classical", "Classic Rock": "rock", "Indie Pop": "pop", "EDM": "dance",
    "Indian Classical": "indian",
}

# A second set with other wordings of the same concepts (`--prompt-set heldout`), for a
# check that the engine did not learn the default list.
HELDOUT_PROMPTS: dict[str, str] = {
    "Grand Piano": "piano", "Flamenco Guitar": "guitar", "Solo Violin": "violin",
    "Cello Suite": "cello", "Pan Flute": "flute", "Concert Harp": "harp",
    "Harpsichord Sonata": "harpsichord", "Sitar Raga": "sitar", "Gregorian Chant": "choir",
    "String Quartet": "strings", "Drum Solo": "drums", "Analog Synth": "synth",
    "Thrash Metal": "metal", "Detroit Techno": "techno", "Bluegrass": "country",
    "Dark Ambient": "ambient", "Symphony": "classical", "Punk Rock": "rock",
    "Bubblegum Pop": "pop", "Disco": "dance", "Bollywood": "indian", "Opera": "opera",
}
# A third set, written after the engine was tuned on the two above (`--prompt-set fresh`,
# best run with other seeds, e.g. `--seeds 3,4`): a check of how the engine generalises.
FRESH_PROMPTS: dict[str, str] = {
    "Acoustic Guitar": "guitar", "Violin Concerto": "violin", "Cello Solo": "cello",
    "Flute Solo": "flute", "Celtic Harp": "harp", "Baroque Harpsichord": "harpsichord",
    "Indian Sitar": "sitar", "Church Choir": "choir", "String Orchestra": "strings",
    "Rock Drums": "drums", "Synthwave": "synth", "Death Metal": "metal",
    "Minimal Techno": "techno", "Country Western": "country", "Ambient Drone": "ambient",
    "Classical Music": "classical", "Hard Rock": "rock", "Pop Music": "pop",
    "House Music": "dance", "Indian Music": "indian", "Piano Solo": "piano",
}
PROMPT_SETS = {"default": TAGGER_PROMPTS, "heldout": HELDOUT_PROMPTS, "fresh": FRESH_PROMPTS}

TEMPOS = (60, 76, 91, 107, 122, 138, 153, 169, 184, 200)  # 10 steps over 60-200 bpm
GROOVES = ("Techno", "Piano Ballad", "Funk", "Bossa Nova")
SCALE_CASES = (
    ("Piano", "C_MAJOR_A_MINOR"), ("Indie Pop", "F_MAJOR_D_MINOR"),
    ("Techno", "E_FLAT_MAJOR_C_MINOR"), ("Ambient", "A_MAJOR_G_FLAT_MINOR"),
    ("Jazz", "B_FLAT_MAJOR_G_MINOR"), ("Sitar", "D_MAJOR_B_MINOR"),
)
MONO_PROMPTS = ("Indie Pop", "Ambient", "Techno")
MONO_LEVELS = (0.1, 0.5, 0.9)
EVENT_BPM = 120  # a 4/4 bar lasts 2 s
EVENT_CASES = (  # (label, initial prompts, the event, expected seconds)
    ("prompts, off the bar", {"Piano": 1.0}, {"at": 10.3, "prompts": {"Heavy Metal": 1.0}}, 10.3),
    ("prompts, on a bar line", {"Piano": 1.0}, {"at": "bar 6", "prompts": {"Heavy Metal": 1.0}}, 10.0),
    ("prompts, reverse", {"Heavy Metal": 1.0}, {"at": 10.7, "prompts": {"Piano": 1.0}}, 10.7),
    ("weights, off the bar", {"Piano": 1.0, "Heavy Metal": 0.2}, {"at": 9.1, "weights": {"Heavy Metal": 2.0}}, 9.1),
)
FORM_CASES = (("Techno", 1, 120), ("Indie Pop", 2, 100))  # prompt, seed, bpm

SECTIONS = ("tagger", "tempo", "scale", "mono", "events", "form")


@dataclass(frozen=True)
class Durations:
    """Render lengths in seconds; ``quick`` shortens them for a run of a few minutes."""

    tagger: float = 30.0
    tempo: float = 20.0
    scale: float = 20.0
    mono: float = 20.0
    events: float = 20.0
    form: float = 240.0

    @classmethod
    def for_mode(cls, quick: bool) -> "Durations":
        return cls(tagger=15.0, tempo=12.0, scale=12.0, mono=12.0, events=16.0, form=60.0) if quick else cls()


@dataclass(frozen=True)
class Job:
    """One render: a unique name, its timeline mapping and what the analysis must know."""

    name: str
    timeline: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


def _timeline(name: str, prompts: dict[str, float], seconds: float, seed: int,
              config: dict[str, Any] | None = None, events: list | None = None,
              loudness: bool = True) -> dict[str, Any]:
    output: dict[str, Any] = {"name": name, "formats": ["wav"]}
    if not loudness:
        output["loudness_lufs"] = None
    return {
        "version": 1, "title": name, "duration": seconds, "seed": seed,
        "prompts": [{"text": text, "weight": weight} for text, weight in prompts.items()],
        "config": dict(config or {}), "events": list(events or []), "output": output,
    }


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def tagger_jobs(prompts: dict[str, str], seeds: list[int], d: Durations) -> list[Job]:
    return [Job(f"tag_{_slug(p)}_s{s}", _timeline(f"tag_{_slug(p)}_s{s}", {p: 1.0}, d.tagger, s),
                {"prompt": p, "tag": tag, "seed": s})
            for s in seeds for p, tag in prompts.items()]


def tempo_jobs(d: Durations, seed: int = 1) -> list[Job]:
    jobs = []
    for groove in GROOVES:
        for bpm in TEMPOS:
            name = f"tempo_{_slug(groove)}_{bpm}"
            jobs.append(Job(name, _timeline(name, {groove: 1.0}, d.tempo, seed, {"bpm": bpm}),
                            {"groove": groove, "bpm": bpm}))
    return jobs


def scale_jobs(d: Durations, seed: int = 1) -> list[Job]:
    return [Job(f"scale_{_slug(p)}", _timeline(f"scale_{_slug(p)}", {p: 1.0}, d.scale, seed, {"scale": sc}),
                {"prompt": p, "scale": sc}) for p, sc in SCALE_CASES]


def mono_jobs(d: Durations, seed: int = 1) -> list[Job]:
    jobs = []
    for prompt in MONO_PROMPTS:
        for knob, other in (("brightness", "density"), ("density", "brightness")):
            for level in MONO_LEVELS:
                name = f"mono_{_slug(prompt)}_{knob}_{int(level * 10)}"
                config = {"bpm": 120, knob: level, other: 0.5}
                jobs.append(Job(name, _timeline(name, {prompt: 1.0}, d.mono, seed, config),
                                {"prompt": prompt, "knob": knob, "level": level}))
    return jobs


def event_jobs(d: Durations, seed: int = 1) -> list[Job]:
    """Each event timeline, and the same timeline without its event (the reference the
    analysis compares against). Loudness normalisation is off so both share one gain."""
    config = {"bpm": EVENT_BPM}
    jobs, references = [], {}
    for i, (label, prompts, event, expected_s) in enumerate(EVENT_CASES):
        ref = "event_ref_" + "_".join(f"{_slug(p)}{w:g}" for p, w in prompts.items()).replace(".", "p")
        if ref not in references:
            references[ref] = Job(ref, _timeline(ref, prompts, d.events, seed, config, loudness=False),
                                  {"kind": "reference"})
        name = f"event_{i}"
        jobs.append(Job(name, _timeline(name, prompts, d.events, seed, config, [event], loudness=False),
                        {"kind": "event", "label": label, "event": event, "expected_s": expected_s,
                         "reference": ref}))
    return jobs + list(references.values())


def form_jobs(d: Durations) -> list[Job]:
    return [Job(f"form_{_slug(p)}_s{s}", _timeline(f"form_{_slug(p)}_s{s}", {p: 1.0}, d.form, s, {"bpm": bpm}),
                {"prompt": p, "seed": s, "bpm": bpm, "beats_per_bar": 4}) for p, s, bpm in FORM_CASES]


def parse_prompts(spec: str) -> dict[str, str]:
    """``"Piano=piano, Heavy Metal=metal"`` -> {prompt: tag}; tags must be MTT tags."""
    prompts: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        prompt, sep, tag = part.rpartition("=")
        if not sep or not prompt.strip():
            raise ValueError(f"--prompts: {part!r} is not PROMPT=TAG")
        if tag.strip().lower() not in MTT_TAGS:
            raise ValueError(f"--prompts: {tag.strip()!r} is not one of the 50 MagnaTagATune tags: "
                             f"{', '.join(MTT_TAGS)}")
        prompts[prompt.strip()] = tag.strip().lower()
    if len(prompts) < 2:
        raise ValueError("--prompts: give at least two PROMPT=TAG pairs (renders are ranked against each other)")
    return prompts


def build_jobs(sections: list[str], prompts: dict[str, str], seeds: list[int], quick: bool) -> dict[str, list[Job]]:
    d = Durations.for_mode(quick)
    makers = {
        "tagger": lambda: tagger_jobs(prompts, seeds, d), "tempo": lambda: tempo_jobs(d),
        "scale": lambda: scale_jobs(d), "mono": lambda: mono_jobs(d),
        "events": lambda: event_jobs(d), "form": lambda: form_jobs(d),
    }
    return {section: makers[section]() for section in sections}
