"""OGG Vorbis and Opus, the standard tags through one table, loop starts, cue markers and the acid chunk.

Files are read back with independent readers: soundfile for frames, mutagen for tags, tests/helpers/riff.py for chunks.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile as sf
from helpers import riff
from helpers.audio import FS, pink_noise, write_segment
from mutagen.id3 import ID3
from mutagen.wave import WAVE

from render.errors import ExportError
from render.export.finish import finish
from render.export.tags import Cue, TagSet, key_of_scale
from render.export.writers import ExportSettings
from render.master.stitch import MasterSettings, PieceSource, plan_stitch

TAGS = TagSet(title="Tide", artist="me", date="2024-05-01", bpm=120, key="Eb", root_note=3, meter=(3, 4),
              extra={"SEED": "42"}, cues=(Cue(frame=0, label="intro"), Cue(frame=FS, label="drop")))


@pytest.fixture()
def segment(tmp_path: Path):
    return write_segment(tmp_path / "spool.pcm", pink_noise(4 * FS, 0.1, seed=3), 0, "s1", offset_bytes=44)


@pytest.mark.parametrize("frames", [2 * FS, 2 * FS + 331])
def test_ogg_and_opus_decode_to_the_exact_frames_with_vorbis_comments(tmp_path: Path, segment, frames: int) -> None:
    settings = MasterSettings(duration_frames=frames)
    report = finish([segment], settings, ExportSettings(formats=("ogg", "opus")), tmp_path, "t", TAGS)
    for ext in ("ogg", "opus"):
        path = tmp_path / f"t.{ext}"
        data, rate = sf.read(path, always_2d=True)
        assert (data.shape, rate) == ((frames, 2), FS)
        tags = mutagen.File(path)
        assert tags["DATE"] == ["2024-05-01"] and tags["BPM"] == ["120"] and tags["KEY"] == ["Eb"]
        assert tags["INITIALKEY"] == ["Eb"] and tags["SEED"] == ["42"] and tags["TITLE"] == ["Tide"]
        assert 'TITLE "drop"' in tags["CUESHEET"][0] and "INDEX 01 00:01:00" in tags["CUESHEET"][0]
    assert {f["format"] for f in report.files} == {"ogg", "opus"}


@pytest.mark.parametrize("fmt", ["ogg", "opus"])
def test_quality_changes_the_size(tmp_path: Path, segment, fmt: str) -> None:
    settings = MasterSettings(duration_frames=2 * FS)
    for name, q in (("lo", 1), ("hi", 9)):
        export = ExportSettings(formats=(fmt,), ogg_quality=q, opus_quality=q)
        finish([segment], settings, export, tmp_path, name, TagSet())
    assert (tmp_path / f"hi.{fmt}").stat().st_size > 1.5 * (tmp_path / f"lo.{fmt}").stat().st_size


def test_opus_refuses_other_rates() -> None:
    with pytest.raises(ExportError, match="Opus encodes only 48000"):
        ExportSettings(formats=("opus",), sample_rate=44100).validate()


def test_date_bpm_key_in_id3_and_riff(tmp_path: Path, segment) -> None:
    finish([segment], MasterSettings(duration_frames=2 * FS), ExportSettings(formats=("wav", "mp3")), tmp_path, "d", TAGS)
    for tags in (ID3(tmp_path / "d.mp3"), WAVE(tmp_path / "d.wav").tags):
        assert str(tags["TDRC"].text[0]) == "2024-05-01"
        assert tags["TBPM"].text == ["120"] and tags["TKEY"].text == ["Eb"]
        chaps = {c.element_id: c for c in tags.getall("CHAP")}
        assert sorted(chaps) == ["chp0", "chp1"] and chaps["chp1"].start_time == 1000 and chaps["chp0"].end_time == 1000
        assert chaps["chp1"].sub_frames["TIT2"].text == ["drop"]
        assert tags.getall("CTOC")[0].child_element_ids == ["chp0", "chp1"]
    raw = ID3(tmp_path / "d.mp3", translate=False)  # as stored: ID3v2.3 TYER + TDAT
    assert raw["TYER"].text == ["2024"] and raw["TDAT"].text == ["0105"]
    assert sf.SoundFile(tmp_path / "d.wav").date == "2024-05-01"  # RIFF INFO ICRD
    acid = riff.acid(tmp_path / "d.wav")
    assert acid["tempo"] == 120 and acid["beats"] == 4 and acid["meter"] == (3, 4) and acid["root_note"] == 48 + 3
    assert riff.cue_points(tmp_path / "d.wav") == [(0, "intro"), (FS, "drop")]
    assert sf.info(tmp_path / "d.wav").frames == 2 * FS


def test_key_names_are_the_major_key() -> None:
    assert key_of_scale("E_FLAT_MAJOR_C_MINOR") == ("Eb", 3)
    assert key_of_scale("B_MAJOR_A_FLAT_MINOR") == ("B", 11)
    assert key_of_scale("SCALE_UNSPECIFIED") is None and key_of_scale(None) is None


def test_intro_then_loop_points_in_every_format(tmp_path: Path, segment) -> None:
    start, xfade, dur = FS // 2, FS // 4, 2 * FS
    settings = MasterSettings(duration_frames=dur, loop_crossfade_frames=xfade, loop_start_frames=start, target_lufs=None)
    report = finish([segment], settings, ExportSettings(formats=("wav", "flac", "ogg")), tmp_path, "l", TagSet())
    assert report.loop == {"start_frame": start, "length_frames": dur - start}
    assert riff.smpl_loops(tmp_path / "l.wav") == [(start, dur - 1)]
    for ext in ("flac", "ogg"):
        tags = mutagen.File(tmp_path / f"l.{ext}")
        assert tags["LOOPSTART"] == [str(start)] and tags["LOOPLENGTH"] == [str(dur - start)]


def test_loop_start_is_seamless(tmp_path: Path, segment) -> None:
    """Playing the end and then the loop start again is continuous with the stream the tail came from."""
    start, xfade, dur = FS // 2, FS // 4, 2 * FS
    settings = MasterSettings(duration_frames=dur, loop_crossfade_frames=xfade, loop_start_frames=start, remove_dc=False)
    src = PieceSource(plan_stitch([segment], settings), settings)
    piece = src.read(0, dur)
    np.testing.assert_allclose(piece[:start], src.stream(0, start), atol=1e-6)  # the intro is untouched
    np.testing.assert_allclose(piece[start + xfade :], src.stream(start + xfade, dur), atol=1e-6)
    # at the loop point's far end the crossfade is all "continuation of the end": stream frames dur..dur+xfade
    tail = src.stream(dur, dur + xfade)
    assert np.abs(piece[start] - tail[0]).max() < np.abs(piece[start] - src.stream(start, start + 1)[0]).max() + 1e-6


def _resolve(output: dict, events: list | None = None):
    from render.timeline.model import Timeline
    from render.timeline.resolve import resolve

    return resolve(Timeline.model_validate({"duration": 16, "prompts": {"a": 1}, "config": {"bpm": 120},
                                            "events": events or [], "output": output}))


def test_loop_start_in_bars_and_its_warnings() -> None:
    r = _resolve({"loop": {"start": "bar 3", "crossfade": "1 bar"}, "fade_out": 2, "formats": ["wav"]},
                 [{"at": "bar 5", "config": {"bpm": 90}}])
    assert not r.errors and r.loop_start_s == 4 and r.loop_crossfade_s == Fraction(8, 3)  # 1 bar at the end: 90 bpm
    warnings = {(i.path, i.message.split(",")[0]) for i in r.issues if i.severity == "warning"}
    assert (("output", "fade_out"), "fade_in and fade_out are ignored on a loop (a loop has no ends to fade)") in warnings
    assert any(path == ("events", 0, "config") and "cannot loop musically" in i.message
               for i in r.issues for path in [i.path])


def test_loop_start_errors_and_opus_rate_are_located() -> None:
    r = _resolve({"loop": {"start": 15, "crossfade": 1}})
    assert [i.path for i in r.errors] == [("output", "loop", "start")]
    r = _resolve({"formats": ["opus"], "sample_rate": 44100})
    assert [(i.path, "Opus" in i.message) for i in r.errors] == [(("output", "sample_rate"), True)]
