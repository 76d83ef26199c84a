"""Encoders and tags: export settings, streaming writers into atomic temp files.

:func:`open_writers` opens one :class:`Writer` per format; :func:`render.export.finish`
drives them through the mastering pass and publishes them. Every writer writes a hidden
temp file in the output directory; it is tagged, hashed and only then ``os.replace``-d
onto its final name, and deleted on any error.

MP3 is encoded with pedalboard's LAME writer (2-4x faster than libsndfile's here, see
``bench/master.py``); it writes the LAME/Xing header with encoder delay and padding, so
the file decodes to the exact frame count, and mutagen adds ID3v2.3 tags. OGG Vorbis and
Opus are encoded by libsndfile (exact decoded frame counts: Vorbis end-granule trimming,
Opus pre-skip), tagged with Vorbis comments. Tags come from one table (:mod:`.tags`).
"""

from __future__ import annotations

import abc
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from render.audio import SAMPLE_RATE
from render.errors import ExportError
from render.files import sha256_file, temp_path

from .riff import acid_chunk, append_chunks, cue_chunks, smpl_chunk
from .tags import Loop, TagSet, fill_id3, vorbis_comments

__all__ = [
    "ExportSettings",
    "TagSet",
    "open_writers",
    "Writer",
    "Loop",
    "FORMATS",
]

FORMATS = ("wav", "mp3", "flac", "ogg", "opus")
OPUS_RATE = 48_000  # the only rate Opus encodes (RFC 7845); not the stream rate by coincidence
_WAV_SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
_FLAC_SUBTYPES = ("PCM_16", "PCM_24")
_MP3_MAX_RATE = SAMPLE_RATE


@dataclass(frozen=True, kw_only=True)
class ExportSettings:
    """Which files to write and how to encode them."""

    formats: tuple[str, ...] = ("wav", "mp3")
    sample_rate: int = SAMPLE_RATE
    wav_subtype: str = "PCM_16"
    flac_subtype: str = "PCM_16"
    mp3_mode: str = "vbr"
    mp3_bitrate_kbps: int = 320
    mp3_vbr_quality: int = 2
    ogg_quality: float = 6.0
    opus_quality: float = 6.0

    def validate(self) -> None:
        """Raise :class:`ExportError` for any setting that cannot be honoured."""
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise ExportError(f"export formats {list(self.formats)}: unknown or empty",
                              hint=f"use one or more of {', '.join(FORMATS)}")
        if self.sample_rate < 8000 or self.sample_rate % 10:
            raise ExportError(f"sample_rate={self.sample_rate}: need >= 8000 Hz and a multiple of 10 Hz")
        if "mp3" in self.formats and self.sample_rate > _MP3_MAX_RATE:
            raise ExportError(
                f"sample_rate={self.sample_rate}: MP3 supports at most 48000 Hz",
                hint="use WAV or FLAC for high sample rates, or export MP3 at 48000/44100",
            )
        if "opus" in self.formats and self.sample_rate != OPUS_RATE:
            raise ExportError(f"sample_rate={self.sample_rate}: Opus encodes only {OPUS_RATE} Hz",
                              hint="set output.sample_rate: 48000, or drop opus from formats")
        for name in ("ogg_quality", "opus_quality"):
            if not 0 <= getattr(self, name) <= 10:
                raise ExportError(f"{name}={getattr(self, name)}: use 0 (smallest) to 10 (best)")
        if self.wav_subtype not in _WAV_SUBTYPES:
            raise ExportError(f"wav_subtype={self.wav_subtype!r}: use one of {', '.join(_WAV_SUBTYPES)}")
        if self.flac_subtype not in _FLAC_SUBTYPES:
            raise ExportError(f"flac_subtype={self.flac_subtype!r}: use one of {', '.join(_FLAC_SUBTYPES)}")
        if self.mp3_mode not in ("vbr", "cbr"):
            raise ExportError(f"mp3_mode={self.mp3_mode!r}: use 'vbr' or 'cbr'")
        if not 0 <= self.mp3_vbr_quality <= 9:
            raise ExportError(f"mp3_vbr_quality={self.mp3_vbr_quality}: LAME -V takes 0 (best) to 9")
        if self.mp3_bitrate_kbps not in (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320):
            raise ExportError(f"mp3_bitrate_kbps={self.mp3_bitrate_kbps}: not an MPEG-1 layer III bitrate")


class Writer(abc.ABC):
    """One output file being written block by block to a temp file."""

    fmt = ""

    def __init__(self, final: Path, sample_rate: int, channels: int, settings: ExportSettings) -> None:
        self.final, self.sample_rate, self.channels = final, sample_rate, channels
        self.settings = settings
        self.tmp = temp_path(final)
        self.frames = 0

    def write(self, block: np.ndarray) -> None:
        self.frames += block.shape[0]
        self._write(block)

    @abc.abstractmethod
    def _write(self, block: np.ndarray) -> None:
        """Implemented by each format's writer."""

    @abc.abstractmethod
    def close(self) -> None:
        """Implemented by each format's writer."""

    @abc.abstractmethod
    def encoder(self) -> dict[str, Any]:
        """Implemented by each format's writer."""

    @abc.abstractmethod
    def tag(self, tags: TagSet, loop: Loop | None) -> None:
        """Implemented by each format's writer."""

    def prepare(self, tags: TagSet, loop: Loop | None) -> dict[str, Any]:
        """Tag and hash the closed temp file; returns its report entry (not yet published)."""
        self.tag(tags, loop)
        digest, size = sha256_file(self.tmp), self.tmp.stat().st_size
        return {
            "format": self.fmt,
            "path": str(self.final),
            "sample_rate": self.sample_rate,
            "frames": self.frames,
            "channels": self.channels,
            "encoder": self.encoder(),
            "sha256": digest,
            "bytes": size,
        }

    def publish(self) -> None:
        """Move the temp file onto the final name (atomic on one file system)."""
        os.replace(self.tmp, self.final)

    def commit(self, tags: TagSet, loop: Loop | None) -> dict[str, Any]:
        """:meth:`prepare` then :meth:`publish`."""
        entry = self.prepare(tags, loop)
        self.publish()
        return entry

    def abort(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - cleaning up after another error
            pass
        self.tmp.unlink(missing_ok=True)


class _SoundFileWriter(Writer):
    container = ""

    def __init__(self, final: Path, sample_rate: int, channels: int, settings: ExportSettings) -> None:
        import soundfile as sf

        super().__init__(final, sample_rate, channels, settings)
        self._file: Any = sf.SoundFile(
            self.tmp, "w", sample_rate, channels, subtype=self.subtype(), format=self.container or self.fmt.upper(),
            **self.options(),
        )
        self._closed = False

    @abc.abstractmethod
    def subtype(self) -> str:
        """The libsndfile subtype to write."""

    def options(self) -> dict[str, Any]:
        """Extra ``sf.SoundFile`` arguments (compression level, bitrate mode)."""
        return {}

    def vorbis_tag(self, tags: TagSet, loop: Loop | None) -> None:
        """Write the Vorbis comments (FLAC, OGG, Opus) with mutagen."""
        import mutagen

        audio: Any = mutagen.File(self.tmp)
        for key, values in vorbis_comments(tags, loop, self.sample_rate, self.final.name).items():
            audio[key] = values
        audio.save()

    def _write(self, block: np.ndarray) -> None:
        self._file.write(block)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._file.close()

    def encoder(self) -> dict[str, Any]:
        import soundfile as sf

        return {"library": sf.__libsndfile_version__, "subtype": self.subtype(), **self.options()}


class _WavWriter(_SoundFileWriter):
    fmt = "wav"

    def subtype(self) -> str:
        return self.settings.wav_subtype

    def set_info(self, tags: TagSet) -> None:
        """LIST/INFO strings; libsndfile needs them before the first frame."""
        for key, value in tags.standard().items():
            if key in ("title", "artist", "album", "genre", "comment", "date"):  # those with a RIFF INFO id
                setattr(self._file, key, value)

    def tag(self, tags: TagSet, loop: Loop | None) -> None:
        from mutagen.wave import WAVE

        chunks = smpl_chunk(self.sample_rate, loop, tags.root_note) if loop is not None else b""
        if tags.bpm:
            beats = round(self.frames * tags.bpm / (60 * self.sample_rate))
            chunks += acid_chunk(tags.bpm, beats, tags.meter, tags.root_note, loop is not None)
        append_chunks(self.tmp, chunks + cue_chunks(tags.cues))
        audio = WAVE(self.tmp)
        audio.add_tags()
        fill_id3(audio.tags, tags, loop, self.sample_rate, self.frames)
        audio.save(v2_version=3)


class _FlacWriter(_SoundFileWriter):
    fmt = "flac"

    def subtype(self) -> str:
        return self.settings.flac_subtype

    def tag(self, tags: TagSet, loop: Loop | None) -> None:
        self.vorbis_tag(tags, loop)


class _OggWriter(_SoundFileWriter):
    """OGG Vorbis; ``ogg_quality`` 0-10 as oggenc's -q (libsndfile's compression level is 1 - q/10)."""

    fmt, container = "ogg", "OGG"

    def subtype(self) -> str:
        return "VORBIS"

    def options(self) -> dict[str, Any]:
        return {"compression_level": round(1 - self.settings.ogg_quality / 10, 3)}

    def tag(self, tags: TagSet, loop: Loop | None) -> None:
        self.vorbis_tag(tags, loop)
        _fix_serial(self.tmp, zlib.crc32(self.final.name.encode()))


def _fix_serial(path: Path, serial: int) -> None:
    """Give every Ogg page one serial from the file name (libsndfile picks a random one), so equal
    renders are equal bytes; mutagen recomputes each page's CRC."""
    from mutagen.ogg import OggPage

    out = bytearray()
    with open(path, "rb") as f:
        while True:
            try:
                page = OggPage(f)
            except EOFError:
                break
            page.serial = serial
            out += page.write()
    path.write_bytes(out)


class _OpusWriter(_OggWriter):
    """Ogg Opus at 48 kHz, VBR; ``opus_quality`` 0-10 sets libsndfile's bitrate (compression level 1 - q/10).

    (libsndfile refuses a bitrate mode together with a compression level, so Opus is always VBR.)
    """

    fmt = "opus"

    def subtype(self) -> str:
        return "OPUS"

    def options(self) -> dict[str, Any]:
        return {"compression_level": round(1 - self.settings.opus_quality / 10, 3)}


class _Mp3Writer(Writer):
    fmt = "mp3"

    def __init__(self, final: Path, sample_rate: int, channels: int, settings: ExportSettings) -> None:
        from pedalboard.io import AudioFile

        super().__init__(final, sample_rate, channels, settings)
        self._file: Any = AudioFile(str(self.tmp), "w", sample_rate, channels, quality=self._quality())
        self._closed = False

    def _quality(self) -> str | int:
        if self.settings.mp3_mode == "cbr":
            return self.settings.mp3_bitrate_kbps
        return f"V{self.settings.mp3_vbr_quality}"

    def _write(self, block: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(block.T, dtype=np.float32))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._file.close()

    def encoder(self) -> dict[str, Any]:
        import pedalboard

        mode = self.settings.mp3_mode
        rate = {"bitrate_kbps": self.settings.mp3_bitrate_kbps} if mode == "cbr" else {"vbr_quality": f"-V{self.settings.mp3_vbr_quality}"}
        return {"library": f"pedalboard {pedalboard.__version__} (LAME)", "mode": mode, **rate, "gapless_header": True}

    def tag(self, tags: TagSet, loop: Loop | None) -> None:
        from mutagen.id3 import ID3

        id3 = ID3()
        fill_id3(id3, tags, loop, self.sample_rate, self.frames)
        id3.save(self.tmp, v2_version=3)


_WRITERS: dict[str, type[Writer]] = {"wav": _WavWriter, "mp3": _Mp3Writer, "flac": _FlacWriter,
                                     "ogg": _OggWriter, "opus": _OpusWriter}


def open_writers(out_dir: Path, name: str, settings: ExportSettings, tags: TagSet, channels: int = 2) -> list[Writer]:
    """Open one temp-file writer per requested format. On error, every temp file is removed."""
    settings.validate()
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ExportError(f"output directory {out_dir} does not exist", hint="create it first")
    writers: list[Writer] = []
    try:
        for fmt in settings.formats:
            writer = _WRITERS[fmt](out_dir / f"{name}.{fmt}", settings.sample_rate, channels, settings)
            writers.append(writer)
            if isinstance(writer, _WavWriter):
                writer.set_info(tags)
    except Exception as exc:
        for w in writers:
            w.abort()
        raise ExportError(f"cannot open output files in {out_dir}: {exc}") from exc
    return writers
