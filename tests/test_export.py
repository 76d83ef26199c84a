"""Export: formats, encoders, tags, loop metadata, SHA-256 and atomic writes."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.audio import FS, pink_noise, write_segment
from mutagen.flac import FLAC
from mutagen.id3 import ID3
from mutagen.mp3 import MP3, BitrateMode
from mutagen.wave import WAVE

import render.export.writers as export_mod
import render.master.finish as finish_mod
from render.errors import ExportError
from render.export.finish import finish
from render.export.writers import ExportSettings, TagSet
from render.files import atomic_write_text, sha256_file
from render.master.stitch import MasterSettings

TAGS = TagSet(title="Tide", artist="lyria-render", album="Tests", genre="Ambient", comment="hi",
              extra={"seed": "42", "timeline_sha256": "abc"})


@pytest.fixture()
def segment(tmp_path: Path):
    return write_segment(tmp_path / "spool.pcm", pink_noise(3 * FS, 0.1, seed=9), 0, "s1", offset_bytes=44)


def _smpl_loop(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    pos = 12
    while pos < len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if cid == b"smpl":
            start, end = struct.unpack("<2I", data[pos + 8 + 36 + 8 : pos + 8 + 36 + 16])
            return start, end
        pos += 8 + size + (size % 2)
    raise AssertionError("no smpl chunk")


def test_all_formats_tags_and_loop_points(tmp_path: Path, segment) -> None:
    settings = MasterSettings(duration_frames=2 * FS, loop_crossfade_frames=FS // 4)
    report = finish([segment], settings, ExportSettings(formats=("wav", "mp3", "flac")), tmp_path, "tide", TAGS)
    wav, mp3, flac = (tmp_path / f"tide.{ext}" for ext in ("wav", "mp3", "flac"))
    info = sf.SoundFile(wav)
    assert (info.title, info.artist, info.album) == ("Tide", "lyria-render", "Tests")  # LIST/INFO
    wave_tags = WAVE(wav).tags
    assert wave_tags["TXXX:seed"].text == ["42"] and wave_tags["TIT2"].text == ["Tide"]  # id3 chunk
    assert _smpl_loop(wav) == (0, 2 * FS - 1)
    id3 = ID3(mp3)
    assert id3.version[:2] == (2, 3)
    assert id3["TXXX:timeline_sha256"].text == ["abc"] and id3["TPE1"].text == ["lyria-render"]
    vorbis = FLAC(flac)
    assert vorbis["LOOPSTART"] == ["0"] and vorbis["LOOPLENGTH"] == [str(2 * FS)] and vorbis["SEED"] == ["42"]
    for entry in report.files:
        path = Path(entry["path"])
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["bytes"] == path.stat().st_size
        assert sf.info(path).frames == 2 * FS == entry["frames"]  # MP3 too: gapless header


def test_mp3_cbr_and_vbr(tmp_path: Path, segment) -> None:
    settings = MasterSettings(duration_frames=2 * FS + 1)
    finish([segment], settings, ExportSettings(formats=("mp3",), mp3_mode="cbr", mp3_bitrate_kbps=192), tmp_path, "c", TagSet())
    finish([segment], settings, ExportSettings(formats=("mp3",), sample_rate=44_100, mp3_vbr_quality=4), tmp_path, "v", TagSet())
    cbr, vbr = MP3(tmp_path / "c.mp3").info, MP3(tmp_path / "v.mp3").info
    assert cbr.bitrate_mode == BitrateMode.CBR and cbr.bitrate == 192_000
    assert vbr.bitrate_mode == BitrateMode.VBR and vbr.sample_rate == 44_100
    assert sf.info(tmp_path / "c.mp3").frames == 2 * FS + 1
    assert sf.info(tmp_path / "v.mp3").frames == -(-(2 * FS + 1) * 147 // 160)


def test_mp3_above_48k_is_refused(tmp_path: Path, segment) -> None:
    with pytest.raises(ExportError, match="MP3 supports at most 48000"):
        finish([segment], MasterSettings(duration_frames=FS), ExportSettings(sample_rate=96_000), tmp_path, "x", TagSet())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spool.pcm"]


def test_failure_mid_encode_leaves_nothing(tmp_path: Path, segment, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "song.wav"
    good.write_bytes(b"previous good render")
    calls = {"n": 0}
    real_write = export_mod._Mp3Writer._write

    def failing(self, block):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (injected)")
        real_write(self, block)

    monkeypatch.setattr(finish_mod, "BLOCK_FRAMES", FS // 2)
    monkeypatch.setattr(export_mod._Mp3Writer, "_write", failing)
    with pytest.raises(ExportError, match="disk full"):
        finish([segment], MasterSettings(duration_frames=2 * FS), ExportSettings(formats=("wav", "mp3", "flac")),
               tmp_path, "song", TagSet())
    assert calls["n"] == 2
    assert good.read_bytes() == b"previous good render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.wav", "spool.pcm"]


def test_a_stop_raised_by_the_callers_progress_is_not_a_write_error(tmp_path: Path, segment) -> None:
    class Stop(Exception):  # e.g. a batch stopping: the caller must see its own exception
        pass

    def stop_while_writing(stage: str, fraction: float) -> None:
        if stage == "write":
            raise Stop("the batch is stopping")

    with pytest.raises(Stop):
        finish([segment], MasterSettings(duration_frames=2 * FS), ExportSettings(formats=("wav",)),
               tmp_path, "song", TagSet(), progress=stop_while_writing)
    assert not (tmp_path / "song.wav").exists()


def test_atomic_helpers(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    atomic_write_text(target, '{"a": 1}')
    assert target.read_text() == '{"a": 1}'
    assert sha256_file(target) == hashlib.sha256(b'{"a": 1}').hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


@pytest.mark.parametrize(("subtype", "dtype"), [("PCM_24", "int32"), ("FLOAT", "float32")])
def test_wav_subtypes(tmp_path: Path, segment, subtype: str, dtype: str) -> None:
    finish([segment], MasterSettings(duration_frames=FS), ExportSettings(formats=("wav", "flac"), wav_subtype=subtype,
           flac_subtype="PCM_24"), tmp_path, "s", TagSet())
    assert sf.info(tmp_path / "s.wav").subtype == subtype
    assert sf.info(tmp_path / "s.flac").subtype == "PCM_24"
    data, _ = sf.read(tmp_path / "s.wav", dtype=dtype)
    assert data.shape == (FS, 2) and np.abs(data).max() > 0


def test_outputs_get_ordinary_file_permissions(tmp_path: Path) -> None:
    """Atomic writes go through mkstemp (0600); finished files must get 0666 less the umask."""
    import os

    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "m.json", "{}")
    finally:
        os.umask(mask)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644
