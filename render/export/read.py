"""Read finished audio files back as :class:`render.audio.Waveform` (the Python API's whole-audio type)."""

from __future__ import annotations

from pathlib import Path

from render.audio import Waveform
from render.errors import ExportError

__all__ = ["read_audio"]


def read_audio(path: str | Path) -> Waveform:
    """Decode a WAV, FLAC or MP3 file into a float32 ``[frames, channels]`` :class:`Waveform`.

    Example:
        >>> read_audio("out/seed_example.wav").duration_s    # doctest: +SKIP
        20.0

    Raises:
        ExportError: the file cannot be read or decoded.
    """
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise ExportError(f"{path}: cannot read audio: {exc}") from exc
    return Waveform(data, rate)
