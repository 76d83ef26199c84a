"""Stems: same length, sample-aligned, same gain as the mix, summing to the mix before limiting (< -60 dB)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.audio import FS, pink_noise, sine, write_segment

from render import RenderOptions, render_timeline
from render.controls import GenerationConfig
from render.export.finish import finish, finish_stem
from render.export.tags import TagSet
from render.export.writers import ExportSettings
from render.master.stitch import MasterSettings
from render.pipeline.stems import stem_schedule


def _error_db(mix: np.ndarray, parts: list[np.ndarray]) -> float:
    diff = mix - sum(parts)
    return float(20 * np.log10(np.sqrt(np.mean(diff**2)) / np.sqrt(np.mean(mix**2))))


def _groups(frames: int) -> list[np.ndarray]:
    return [pink_noise(frames, 0.05, seed=1), sine(frames, 55.0, 0.1), pink_noise(frames, 0.04, seed=2)]


@pytest.mark.parametrize("rate, loop_start", [(FS, 0), (44_100, 0), (FS, FS // 2)])
def test_stems_sum_to_the_unlimited_mix(tmp_path: Path, rate: int, loop_start: int) -> None:
    frames, lead = 3 * FS, 4800
    groups = _groups(frames + FS)
    quantised = [np.round(g * 32767) / 32767 for g in groups]  # the spool is int16: sum what it holds
    loop = {"loop_crossfade_frames": FS // 4, "loop_start_frames": loop_start} if loop_start or rate != FS else {}
    settings = MasterSettings(duration_frames=frames, lead_in_frames=lead, target_lufs=-24.0, fade_in_frames=FS // 10,
                              **loop)  # type: ignore[arg-type]
    export = ExportSettings(formats=("wav",), sample_rate=rate, wav_subtype="FLOAT")
    mix_seg = write_segment(tmp_path / "mix.pcm", sum(quantised), 0, "mix")
    report = finish([mix_seg], settings, export, tmp_path, "mix", TagSet())
    assert report.limiter_frames_limited == 0 and abs(report.gain_db) > 1  # a real gain, no limiting
    parts = []
    for i, g in enumerate(quantised):
        seg = write_segment(tmp_path / f"s{i}.pcm", g, 0, f"s{i}")
        entries = finish_stem([seg], settings, export, tmp_path, f"mix.s{i}", TagSet(), report.gain_db, report.loop)
        assert entries[0]["frames"] == report.frames
        parts.append(sf.read(tmp_path / f"mix.s{i}.wav", always_2d=True)[0])
    mix = sf.read(tmp_path / "mix.wav", always_2d=True)[0]
    assert all(p.shape == mix.shape for p in parts)
    assert _error_db(mix, parts) < -60


def test_stem_schedule_sets_the_flags_on_every_config() -> None:
    from render.schedule import plan
    from render.timeline.loader import timeline_from_data

    loaded = timeline_from_data({"duration": 4, "prompts": {"a": 1}, "config": {"bpm": 120},
                                 "events": [{"at": 1, "config": {"mute_drums": True, "density": 0.2}}]})
    schedule = plan(loaded)
    drums = stem_schedule(schedule, "drums")
    configs = [drums.initial_config] + [m.config for m in drums.messages if m.config is not None]
    assert len(configs) > 1 and all(c.only_bass_and_drums and c.mute_bass for c in configs)
    assert [c.mute_drums for c in configs][-1] is True  # the timeline's own mute still applies
    other = stem_schedule(schedule, "other").initial_config
    assert other == GenerationConfig(**{**schedule.initial_config.as_dict(), "mute_bass": True, "mute_drums": True})


def test_offline_stems_sum_to_the_mix(tmp_path: Path) -> None:
    tl = {"duration": 4, "seed": 5, "prompts": {"Techno": 1, "Piano": 0.5}, "config": {"bpm": 120},
          "output": {"name": "p", "formats": ["wav"], "bit_depth": 32, "loudness_lufs": -30, "stems": ["drums", "bass", "other"]}}
    result = render_timeline(tl, tmp_path, RenderOptions(backend="offline"))
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["master"]["limiter_frames_limited"] == 0
    assert [s["stem"] for s in manifest["stems"]] == ["drums", "bass", "other"]
    mix = sf.read(tmp_path / "p.wav", always_2d=True)[0]
    parts = [sf.read(tmp_path / f"p.{s}.wav", always_2d=True)[0] for s in ("drums", "bass", "other")]
    assert all(p.shape == mix.shape for p in parts)
    assert _error_db(mix, parts) < -60


def test_stems_option_writes_files_listed_with_hashes(tmp_path: Path) -> None:
    tl = {"duration": 2, "seed": 5, "prompts": {"Techno": 1}, "output": {"name": "q", "formats": ["flac"]}}
    result = render_timeline(tl, tmp_path, RenderOptions(backend="offline", stems=("bass",)))
    manifest = json.loads(result.manifest_path.read_text())
    (stem,) = manifest["stems"]
    assert stem["stem"] == "bass" and stem["path"] == "q.bass.flac" and manifest["overrides"]["stems"] == ["bass"]
    import hashlib

    assert hashlib.sha256((tmp_path / "q.bass.flac").read_bytes()).hexdigest() == stem["sha256"]
    assert sf.info(tmp_path / "q.bass.flac").frames == sf.info(tmp_path / "q.flac").frames == 2 * FS
    assert not (tmp_path / ".lyria-render").exists() or not any((tmp_path / ".lyria-render").iterdir())


def test_batch_stems_are_owned_outputs(tmp_path: Path) -> None:
    from helpers.batch import write_timeline

    from render.batch.render import render_batch
    from render.batch.results import BatchOptions

    write_timeline(tmp_path / "in" / "a.yaml", formats=("ogg",))
    options = BatchOptions(render=RenderOptions(backend="offline", stems=("drums",)), jobs=1)
    first = render_batch([tmp_path / "in"], tmp_path / "in" / "out", options)
    assert first.exit_code == 0 and (tmp_path / "in" / "out" / "a.drums.ogg").is_file()
    again = render_batch([tmp_path / "in"], tmp_path / "in" / "out", options)  # OUTDIR inside the input folder
    assert [j.status for j in again.jobs] == ["skipped"] and again.orphans == ()
