"""A picture of a rendered file: waveform, log-frequency spectrogram, short-term loudness.

Each timeline event is a labelled vertical line at its effective time (dashed at the
requested time when they differ); seams and loop points are marked; the loudness panel
shows the target and the true-peak ceiling. Needs matplotlib (``lyria-render[plot]``),
drawn with the Agg backend. Manifests are read as untrusted data: no path in them is used.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from render.errors import ExportError, MissingExtraError
from render.files import atomic_write_bytes
from render.master.meter import LoudnessMeter

__all__ = ["require_plot", "PictureMarks", "marks_from", "draw_png", "write_png", "AXES_LEFT", "AXES_RIGHT", "SIZE_PX"]

#: Figure size in pixels and the horizontal extent of every panel (figure fractions): a
#: time ``t`` of a file lasting ``d`` seconds is drawn at x = (AXES_LEFT + t/d * width) * SIZE_PX[0].
SIZE_PX = (1200, 720)
AXES_LEFT, AXES_RIGHT = 0.07, 0.97
EVENT_COLOUR = "#ff0000"
_DPI = 100
_MAX_POINTS = 4000  # waveform envelope columns


@dataclass
class PictureMarks:
    """What to mark on the picture, in seconds (already checked numbers)."""

    events: list[tuple[str, float, float | None]] = field(default_factory=list)  # label, effective, requested
    seams: list[float] = field(default_factory=list)
    loop: tuple[float, float] | None = None
    target_lufs: float | None = None
    ceiling_dbtp: float | None = None


def _num(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def marks_from(manifest: Any, loop: Any, sample_rate: int) -> PictureMarks:
    """Events, seams, target and ceiling from a manifest dict; loop points from the file's tags."""
    marks = PictureMarks()
    events = _get(manifest, "events")
    for ev in events if isinstance(events, list) else []:
        requested = _num(_get(ev, "requested_s"))
        effective = _num(_get(ev, "effective_s"))
        if requested is None and effective is None:
            continue
        label = _get(ev, "label")
        label = str(label)[:40] if label else f"event {_get(ev, 'index')}"
        at = effective if effective is not None else requested
        marks.events.append((label, at, requested if requested is not None and abs(requested - at) > 1e-3 else None))
    for source in (_get(manifest, "master", "seams"), _get(manifest, "render", "seams")):
        for seam in source if isinstance(source, list) else []:
            frame = _num(_get(seam, "at_frame"))
            if frame is not None and round(frame / sample_rate, 3) not in marks.seams:
                marks.seams.append(round(frame / sample_rate, 3))
    start, length = _num(_get(loop, "start_frame")), _num(_get(loop, "length_frames"))
    if start is not None and length is not None:
        marks.loop = (start / sample_rate, (start + length) / sample_rate)
    output = _get(manifest, "timeline", "content", "output")
    marks.target_lufs = _num(_get(output, "loudness_lufs"))
    marks.ceiling_dbtp = _num(_get(output, "true_peak_dbtp"))
    return marks


def _short_term(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Short-term loudness (3 s window) every 100 ms: times and LUFS."""
    meter = LoudnessMeter(sample_rate, audio.shape[1])
    meter.feed(audio)
    bins = meter.bin_energies() / (sample_rate / 10)
    window = np.convolve(bins, np.ones(30) / 30, mode="full")[: bins.size]
    lufs = -0.691 + 10 * np.log10(np.maximum(window, 1e-12))
    return (np.arange(bins.size) + 1) * 0.1, np.where(lufs < -70, np.nan, lufs)


def _envelope(mono: np.ndarray, duration: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cols = max(1, min(_MAX_POINTS, mono.size))
    edges = np.linspace(0, mono.size, cols + 1).astype(int)
    lo = np.array([mono[a:b].min() if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:])])
    hi = np.array([mono[a:b].max() if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:])])
    return np.linspace(0, duration, cols), lo, hi


def _pyplot() -> Any:
    try:
        import matplotlib
    except ModuleNotFoundError as exc:
        raise MissingExtraError("pictures need matplotlib, which is not installed",
                                hint="pip install 'lyria-render[plot]'") from exc
    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure


def require_plot() -> None:
    """Raise :class:`MissingExtraError` now (before a long render) when matplotlib is missing."""
    _pyplot()


def draw_png(audio: np.ndarray, sample_rate: int, marks: PictureMarks, *, title: str = "") -> bytes:
    """Draw the picture of ``audio`` (``[frames, channels]`` float) and return PNG bytes."""
    figure_cls = _pyplot()
    audio = np.asarray(audio, np.float32).reshape(audio.shape[0], -1)
    duration = max(audio.shape[0] / sample_rate, 1e-3)
    fig = figure_cls(figsize=(SIZE_PX[0] / _DPI, SIZE_PX[1] / _DPI), dpi=_DPI)
    width = AXES_RIGHT - AXES_LEFT
    wave, spec, loud = (fig.add_axes((AXES_LEFT, bottom, width, height)) for bottom, height in
                        ((0.68, 0.24), (0.38, 0.26), (0.08, 0.26)))
    mono = audio.mean(axis=1)
    t, lo, hi = _envelope(mono, duration)
    wave.fill_between(t, lo, hi, color="#3060a0", linewidth=0)
    wave.set_ylim(-1.05, 1.05)
    wave.set_ylabel("amplitude")
    wave.set_title(title, loc="left", fontsize=10)
    _spectrogram(spec, mono, sample_rate, duration)
    times, lufs = _short_term(audio, sample_rate)
    loud.plot(times, lufs, color="#206020", linewidth=1.2, label="short-term (3 s)")
    if marks.target_lufs is not None:
        loud.axhline(marks.target_lufs, color="#208020", linestyle=":", label=f"target {marks.target_lufs:g} LUFS")
    if marks.ceiling_dbtp is not None:
        loud.axhline(marks.ceiling_dbtp, color="#a00000", linestyle="--", label=f"ceiling {marks.ceiling_dbtp:g} dBTP")
    loud.set_ylabel("LUFS / dBTP")
    loud.set_xlabel("time (s)")
    loud.legend(loc="lower right", fontsize=7)
    for ax in (wave, spec, loud):
        ax.set_xlim(0, duration)
        ax.margins(x=0)
        _mark(ax, marks, label=ax is wave)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _spectrogram(ax: Any, mono: np.ndarray, sample_rate: int, duration: float) -> None:
    from scipy.signal import spectrogram

    nper = 2048 if mono.size >= 2048 else max(16, mono.size)
    f, t, sxx = spectrogram(mono, fs=sample_rate, nperseg=nper, noverlap=nper // 2, mode="magnitude")
    keep = f >= 30
    db = 20 * np.log10(np.maximum(sxx[keep], 1e-7))
    if t.size:
        ax.pcolormesh(t, f[keep], db, shading="nearest", cmap="magma", vmin=db.max() - 90, vmax=db.max(),
                      rasterized=True)
    ax.set_yscale("log")
    ax.set_ylim(30, sample_rate / 2)
    ax.set_ylabel("Hz")


def _mark(ax: Any, marks: PictureMarks, *, label: bool) -> None:
    for name, at, requested in marks.events:
        ax.axvline(at, color=EVENT_COLOUR, linewidth=1.0, antialiased=False)
        if requested is not None:
            ax.axvline(requested, color=EVENT_COLOUR, linewidth=0.8, linestyle="--", alpha=0.6)
        if label:
            ax.annotate(name, (at, 1.0), xycoords=("data", "axes fraction"), xytext=(2, 2),
                        textcoords="offset points", fontsize=7, rotation=30, color=EVENT_COLOUR)
    for seam in marks.seams:
        ax.axvline(seam, color="#ff9900", linewidth=1.0, linestyle="-.")
    if marks.loop is not None:
        ax.axvspan(*marks.loop, color="#00a0a0", alpha=0.08)
        for edge in marks.loop:
            ax.axvline(edge, color="#008080", linewidth=1.0, linestyle=":")


def write_png(audio_path: Path, png_path: Path, *, manifest: Any = None, loop: Any = None) -> Path:
    """Read ``audio_path`` and write its picture to ``png_path`` atomically."""
    import soundfile as sf

    _pyplot()  # fail on a missing extra before reading the audio
    try:
        audio, sample_rate = sf.read(str(audio_path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise ExportError(f"{audio_path}: cannot read as audio: {exc}", hint="check the path and the file type") from exc
    marks = marks_from(manifest, loop, sample_rate)
    png = draw_png(audio, sample_rate, marks, title=Path(audio_path).name)
    atomic_write_bytes(Path(png_path), png)
    return Path(png_path)
