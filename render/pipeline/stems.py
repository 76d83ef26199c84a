"""Stems (``output.stems`` / ``--stems``): one mechanism for both backends.

Each stem is one more conductor run into its own spool, with the mix's schedule but the
generator's mute flags set on every config (so a timeline's own mute changes still apply):

- drums: ``only_bass_and_drums`` + ``mute_bass``
- bass: ``only_bass_and_drums`` + ``mute_drums``
- other: ``mute_bass`` + ``mute_drums``

It is then stitched with the mix's settings and the mix's final gain, without the limiter
(:mod:`render.master.stems`), and written as ``NAME.STEM.FORMAT`` beside the mix. Offline,
the engine renders each group the same way in every run, so the stems sum to the mix before
limiting. Lyria's stems come from separate sessions (the service is not deterministic):
they are approximate; ``bench/stems.py`` measures how far their sum is from the mix.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, Callable

from render.conductor.conductor import Conductor
from render.controls import GenerationConfig
from render.export.finish import FinishReport, finish_stem
from render.schedule import Schedule
from render.spool.store import Spool, SpoolMeta, schedule_digest

from .job import Prepared, spool_dir

__all__ = ["STEM_FLAGS", "stem_schedule", "render_stems"]

STEM_FLAGS: dict[str, dict[str, bool]] = {
    "drums": {"only_bass_and_drums": True, "mute_bass": True},
    "bass": {"only_bass_and_drums": True, "mute_drums": True},
    "other": {"mute_bass": True, "mute_drums": True},
}


def stem_schedule(schedule: Schedule, stem: str) -> Schedule:
    """``schedule`` with the stem's mute flags set on the initial config and on every config message."""
    flags = STEM_FLAGS[stem]

    def fix(config: GenerationConfig | None) -> GenerationConfig | None:
        return None if config is None else config.replace(**flags)

    messages = tuple(replace(m, config=fix(m.config)) for m in schedule.messages)
    return replace(schedule, initial_config=fix(schedule.initial_config), messages=messages)


def render_stems(p: Prepared, mix: FinishReport, conduct: Callable[[Conductor], Any], session_gate: Any,
                 conductor_options: Any, settings: tuple[Any, Any, Any]) -> list[dict[str, Any]]:
    """Conduct and write every stem of ``p``; returns their file entries (``stem`` names the stem).

    ``settings`` is the mix's (master, export, tags); each stem's spool is removed unless kept.
    """
    master, export, tags = settings
    files: list[dict[str, Any]] = []
    for stem in p.loaded.timeline.output.stems:
        schedule = stem_schedule(p.schedule, stem)
        where = spool_dir(p.out_dir, f"{p.name}.{stem}", p.options)
        meta = SpoolMeta(name=f"{p.name}.{stem}", timeline_sha256=p.audio_hash, schedule_digest=schedule_digest(schedule))
        spool = Spool.create(where, meta, replace=True)
        try:
            asyncio.run(conduct(Conductor(p.backend, schedule, spool, conductor_options, session_gate=session_gate)))
            entries = finish_stem(spool.segments(), master, export, p.out_dir, f"{p.name}.{stem}", tags,
                                  mix.gain_db, mix.loop)
        finally:
            spool.close()
        if not p.options.keep_spool:
            spool.remove()
        files += [{**e, "stem": stem} for e in entries]
    return files
