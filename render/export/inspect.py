"""Read a rendered file back: format, tags, loop points, measured loudness, manifest.

The audio is measured block by block (soundfile reads), so inspecting a long file stays
memory-flat. Used by ``lyria-render inspect`` and by the tests to audit outputs.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from render.errors import AudioFileError, UsageError
from render.files import manifest_path, read_regular, require_regular, sha256_file
from render.master.meter import LoudnessMeter, LoudnessStats, TruePeakMeter

__all__ = ["inspect_file", "read_smpl_loop"]

_BLOCK_FRAMES = 240_000
_MAX_CHANNELS = 5  # what BS.1770 loudness defines
_MANIFEST_LIMIT = 64 << 20
_KINDS = {"WAV": "wav", "WAVEX": "wav", "RF64": "wav", "FLAC": "flac", "MPEG": "mp3", "MP3": "mp3", "OGG": "ogg"}


def inspect_file(path: Path) -> dict[str, Any]:
    """Describe one audio file and the manifest ``NAME.manifest.json`` beside it.

    Args:
        path: a WAV, MP3 or FLAC file (the container is read from the file, not its name).

    Returns:
        A JSON-serialisable dict: ``path``, ``bytes``, ``sha256``, ``format`` (container,
        subtype, sample_rate, channels, frames, duration_s and codec details), ``tags``,
        ``loop`` (or None), ``loudness`` (integrated_lufs, lra_lu, true_peak_dbtp,
        sample_peak_dbfs) and ``manifest`` (the parsed JSON, ``{"error": ...}``, or None).

    Raises:
        AudioFileError: the file is missing, not a regular file, or not readable audio
            (truncated, mislabelled beyond reading, more than 5 channels).
    """
    import soundfile as sf
    from mutagen import MutagenError

    path = Path(path)
    try:
        require_regular(path, "audio file")
        info = sf.info(path)
        if info.channels > _MAX_CHANNELS or not info.samplerate:
            raise AudioFileError(f"{path}: {info.channels} channels at {info.samplerate} Hz; inspect measures "
                                 f"1 to {_MAX_CHANNELS} channels")
        kind = _KINDS.get(str(info.format).upper())
        fmt: dict[str, Any] = {
            "container": info.format, "subtype": info.subtype, "sample_rate": info.samplerate,
            "channels": info.channels, "frames": info.frames, "duration_s": round(info.frames / info.samplerate, 6),
        }
        tags, loop = _tags(path, kind)
        if kind == "mp3":
            fmt.update(_mp3_details(path))
        loudness = measure_file(path).as_dict()
        return {"path": str(path), "bytes": path.stat().st_size, "sha256": sha256_file(path), "format": fmt,
                "tags": tags, "loop": loop, "loudness": loudness, "manifest": _manifest(path)}
    except UsageError as exc:
        raise AudioFileError(exc.message) from None
    except (OSError, RuntimeError, ValueError, EOFError, struct.error, MutagenError, sf.LibsndfileError) as exc:
        raise AudioFileError(f"{path}: cannot read as audio: {exc}",
                             hint="check the path and the file type (a truncated or mislabelled file?)") from None


def measure_file(path: Path) -> LoudnessStats:
    """Integrated loudness, LRA and 8x true peak of a file, read in blocks."""
    import soundfile as sf

    with sf.SoundFile(path) as f:
        loud, peak = LoudnessMeter(f.samplerate, f.channels), TruePeakMeter(f.channels)
        for block in f.blocks(blocksize=_BLOCK_FRAMES, dtype="float32", always_2d=True):
            loud.feed(block)
            peak.feed(block)
    peak.finish()
    return LoudnessStats(
        integrated_lufs=loud.integrated_lufs(),
        lra_lu=loud.lra_lu(),
        true_peak_dbtp=peak.true_peak_dbtp,
        sample_peak_dbfs=peak.sample_peak_dbfs,
    )


def _tags(path: Path, kind: str | None) -> tuple[dict[str, Any], dict[str, int] | None]:
    """Tags by family (info / id3 / vorbis) and loop points from smpl or LOOPSTART/LOOPLENGTH."""
    import soundfile as sf

    tags: dict[str, Any] = {}
    loop = None
    if kind is None:
        return tags, None
    if kind == "wav":
        with sf.SoundFile(path) as f:
            tags["info"] = f.copy_metadata()
        tags["id3"] = _id3_dict(path, wave=True)
        loop = read_smpl_loop(path)
    elif kind == "mp3":
        tags["id3"] = _id3_dict(path, wave=False)
        extra = tags["id3"].get("frames", {})
        if "TXXX:LOOPSTART" in extra and "TXXX:LOOPLENGTH" in extra:
            loop = _loop(extra["TXXX:LOOPSTART"], extra["TXXX:LOOPLENGTH"])
    elif kind in ("flac", "ogg", "opus"):  # Vorbis comments (FLAC, Ogg Vorbis, Ogg Opus)
        import mutagen

        found = mutagen.File(path)
        vorbis = {k.upper(): v for k, v in ((found.tags if found is not None else None) or {}).items()}
        tags["vorbis"] = {k: v if len(v) != 1 else v[0] for k, v in vorbis.items()}
        if "LOOPSTART" in vorbis and "LOOPLENGTH" in vorbis:
            loop = _loop(vorbis["LOOPSTART"][0], vorbis["LOOPLENGTH"][0])
    return tags, loop


def _loop(start: str, length: str) -> dict[str, Any]:
    """Loop points from LOOPSTART/LOOPLENGTH tags; ``{"error": ...}`` when they are not frame counts."""
    try:
        loop = {"start_frame": int(start), "length_frames": int(length)}
    except ValueError:
        loop = {}
    if not loop or loop["start_frame"] < 0 or loop["length_frames"] < 1:
        return {"error": f"LOOPSTART {start!r} / LOOPLENGTH {length!r} are not a start frame and a length"}
    return loop


def _id3_dict(path: Path, *, wave: bool) -> dict[str, Any]:
    from mutagen.id3 import ID3, ID3NoHeaderError

    try:
        if wave:
            from mutagen.wave import WAVE

            id3 = WAVE(path).tags
        else:
            id3 = ID3(path)
    except ID3NoHeaderError:
        id3 = None
    if id3 is None:
        return {}
    frames = {key: "; ".join(str(t) for t in getattr(frame, "text", [])) for key, frame in id3.items()}
    return {"version": ".".join(str(v) for v in id3.version), "frames": frames}


def _mp3_details(path: Path) -> dict[str, Any]:
    from mutagen.mp3 import MP3

    mp3 = MP3(path).info
    return {
        "bitrate_kbps": round(mp3.bitrate / 1000),
        "bitrate_mode": str(mp3.bitrate_mode).rsplit(".", 1)[-1],
        "encoder": mp3.encoder_info or None,
        "encoder_settings": mp3.encoder_settings or None,
    }


def read_smpl_loop(path: Path) -> dict[str, int] | None:
    """The first loop of a WAV ``smpl`` chunk as ``{start_frame, length_frames}``, or None."""
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid != b"smpl":
                f.seek(size + (size % 2), 1)
                continue
            body = f.read(size)
            if len(body) < 60 or struct.unpack("<I", body[28:32])[0] < 1:
                return None
            start, end = struct.unpack("<2I", body[44:52])
            return {"start_frame": start, "length_frames": end - start + 1}


def _manifest(path: Path) -> Any:
    """The manifest beside ``path`` (``NAME.manifest.json``): a dict, ``{"error": ...}``, or None."""
    manifest = manifest_path(path.parent, path.stem)
    if not manifest.exists():
        return None
    try:
        data = json.loads(read_regular(manifest, "manifest", limit=_MANIFEST_LIMIT))
    except (UsageError, ValueError, RecursionError) as exc:
        return {"error": f"{manifest}: unreadable manifest: {exc}"}
    if not isinstance(data, dict):
        return {"error": f"{manifest}: not a manifest (a JSON object is expected)"}
    return data


def write_picture(path: Path, png: Path) -> Path:
    """Draw ``path`` (with the events, seams and loop of the manifest beside it) into ``png``.

    Raises:
        UsageError: matplotlib is not installed (``pip install 'lyria-render[plot]'``).
        ExportError: the file is not readable audio.
    """
    from render.export.picture import write_png

    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    try:
        loop = _tags(path, kind)[1]
    except Exception:  # damaged tags never stop a picture  # noqa: BLE001
        loop = None
    manifest = _manifest(path)
    return write_png(path, Path(png), manifest=manifest if isinstance(manifest, dict) else None, loop=loop)
