"""The whole post-processing of a render: stitch, measure, settle the gain, one final pass.

:func:`finish` streams the piece in 5 s blocks through three steps: a measuring pass
(loudness, true peak, DC and 5 ms bins), a gain choice (exact to the target, or on a
model of the limiter when it will act), and one final pass (gain, resample, true-peak
limiter, meters, every encoder from :mod:`render.export`). If the measured output misses
the ceiling or the loudness target, the final pass is redone with a corrected ceiling or
gain. Files appear under their final names only when everything succeeded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from .errors import ExportError, RenderError
from .export import (ExportSettings, Loop, TagSet, _Writer, open_writers)

if TYPE_CHECKING:
    from .master import MasterSettings, PieceSource, Segment

__all__ = ["finish", "FinishReport", "BLOCK_FRAMES", "MARGIN_DB"]

#: Frames per processing block (5 s at 48 kHz); tests shrink it to prove streaming == whole.
BLOCK_FRAMES = 240_000
#: Internal ceiling sits this far under the requested true peak (detector and codec slack).
MARGIN_DB = 0.3
#: Bins of the measuring pass used to predict the limiter (5 ms at 48 kHz).
_BIN_FRAMES = 240
_BINS_PER_HOP = 20
#: When the final pass misses the target by more than this, it is redone (spec: +-0.5 LU).
_RETRY_LU = 0.35


@dataclass(kw_only=True)
class FinishReport:
    """What :func:`finish` did, JSON-serialisable through :meth:`as_dict`."""

    seams: list[dict[str, Any]]
    loudness_before: dict[str, Any]
    loudness_after: dict[str, Any]
    gain_db: float
    limiter_max_reduction_db: float
    limiter_frames_limited: int
    loop: dict[str, int] | None
    files: list[dict[str, Any]]
    timings_s: dict[str, float]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class _Clock:
    """Accumulates seconds per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now


def _spans(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(total, start + size)


class _Resampler:
    """Block-wise ``resample_poly`` that equals one whole-signal call (context on both sides)."""

    def __init__(self, read: Callable[[int, int], np.ndarray], frames: int, in_rate: int, out_rate: int) -> None:
        g = math.gcd(in_rate, out_rate)
        self.up, self.down = out_rate // g, in_rate // g
        self.read, self.frames = read, frames
        self.context = self.down * math.ceil(64 / self.down)

    @property
    def out_frames(self) -> int:
        return -(-self.frames * self.up // self.down)

    def block(self, a: int, b: int) -> np.ndarray:
        from scipy.signal import resample_poly

        ext = self.read(a - self.context, b + self.context)
        y = resample_poly(ext, self.up, self.down, axis=0)
        first = self.context * self.up // self.down
        count = -(-b * self.up // self.down) - a * self.up // self.down
        return y[first : first + count].astype(np.float32)


def _block_size(down: int) -> int:
    return max(down, BLOCK_FRAMES // down * down)


@dataclass(frozen=True, kw_only=True)
class _Measured:
    """What the measuring pass learns: loudness stats, DC and the 5 ms bins for prediction."""

    stats: Any
    dc: np.ndarray
    bin_energy: np.ndarray
    bin_peak: np.ndarray


def _measure_before(source: PieceSource, clock: _Clock) -> _Measured:
    """Pass 1: loudness and true peak of the piece, its DC offset, and 5 ms bins."""
    from .meter import LoudnessMeter, LoudnessStats, TruePeakMeter

    loud = LoudnessMeter(48_000, 2, bins_per_hop=_BINS_PER_HOP)
    peak, total = TruePeakMeter(2, bin_frames=_BIN_FRAMES), np.zeros(2)
    for a, b in _spans(source.frames, BLOCK_FRAMES):
        t = time.perf_counter()
        x = source.read(a, b)
        t = clock.add("stitch", t)
        loud.feed(x)
        t = clock.add("loudness", t)
        peak.feed(x)
        total += x.sum(axis=0, dtype=np.float64)
        clock.add("true_peak", t)
    peak.finish()
    stats = LoudnessStats(
        integrated_lufs=loud.integrated_lufs(), lra_lu=loud.lra_lu(),
        true_peak_dbtp=peak.true_peak_dbtp, sample_peak_dbfs=peak.sample_peak_dbfs,
    )
    return _Measured(stats=stats, dc=total / max(source.frames, 1), bin_energy=loud.bin_energies(),
                     bin_peak=peak.bin_peaks())


class _GainSearch:
    """Find the gain whose limited loudness hits the target.

    A model of the limiter (:func:`render.limiter.predict_limited_lufs`, on the 5 ms
    bins of the measuring pass) gives the first guess and the slope; real measurements
    of the output correct it (the model's error is close to a constant offset).
    """

    def __init__(self, target_lufs: float, measured: _Measured, frames: int, ceiling_dbtp: float) -> None:
        self.target, self.measured, self.frames, self.ceiling = target_lufs, measured, frames, ceiling_dbtp
        self.offset_lu = 0.0  # measured minus predicted, learnt from real passes

    def predict(self, gain_db: float) -> float | None:
        from .limiter import predict_limited_lufs

        lufs = predict_limited_lufs(self.measured.bin_energy, self.measured.bin_peak, frames=self.frames,
                                    gain_db=gain_db, ceiling_dbtp=self.ceiling, bin_frames=_BIN_FRAMES)
        return None if lufs is None else lufs + self.offset_lu

    def solve(self, gain_db: float) -> float:
        """Secant iterations on the model from ``gain_db``; returns the gain to use."""
        g0, l0 = gain_db, self.predict(gain_db)
        if l0 is None:
            return gain_db
        g1 = g0 + (self.target - l0)
        for _ in range(30):
            l1 = self.predict(g1)
            if l1 is None or abs(l1 - self.target) < 0.005 or abs(g1 - g0) < 1e-6:
                break
            slope = min(max((l1 - l0) / (g1 - g0), 0.02), 1.0)
            g0, l0, g1 = g1, l1, min(g1 + (self.target - l1) / slope, 60.0)
        return g1

    def correct(self, gain_db: float, measured_lufs: float) -> float:
        """Learn the model's offset from a real measurement and solve again."""
        predicted = self.predict(gain_db)
        if predicted is not None:
            self.offset_lu += measured_lufs - predicted
        return self.solve(gain_db)


def _final_pass(source: PieceSource, gain_db: float, ceiling: float, writers: list[_Writer], rate: int, clock: _Clock,
                progress: Callable[[str, float], None] | None) -> tuple[Any, Any, int]:
    """Gain, resample, limit, meter and encode every block. Returns (after stats, limiter, frames)."""
    from .limiter import TruePeakLimiter
    from .meter import LoudnessMeter, LoudnessStats, TruePeakMeter

    gain = np.float32(10 ** (gain_db / 20))
    read = _gained_reader(source, gain)
    resampler = _Resampler(read, source.frames, 48_000, rate) if rate != 48_000 else None
    lim = TruePeakLimiter(rate, 2, ceiling_dbtp=ceiling)
    loud, peak = LoudnessMeter(rate, 2), TruePeakMeter(2)
    written = 0

    def emit(y: np.ndarray) -> None:
        nonlocal written
        t = time.perf_counter()
        loud.feed(y)
        t = clock.add("loudness", t)
        peak.feed(y)
        t = clock.add("true_peak", t)
        for w in writers:
            w.write(y)
            t = clock.add(w.fmt, t)
        written += y.shape[0]

    step = _block_size(resampler.down if resampler else 1)
    for a, b in _spans(source.frames, step):
        t = time.perf_counter()
        if resampler:
            x = resampler.block(a, b)
            t = clock.add("resample", t)
        else:
            x = source.read(a, b) * gain
            t = clock.add("stitch", t)
        y = lim.process(x)
        clock.add("limiter", t)
        emit(y)
        if progress:
            progress("write", b / source.frames)
    emit(lim.flush())
    peak.finish()
    after = LoudnessStats(integrated_lufs=loud.integrated_lufs(), lra_lu=loud.lra_lu(),
                          true_peak_dbtp=peak.true_peak_dbtp, sample_peak_dbfs=peak.sample_peak_dbfs)
    return after, lim, written


def _gained_reader(source: PieceSource, gain: np.float32) -> Callable[[int, int], np.ndarray]:
    """``read(p0, p1)`` of the gained piece for any range: zeros beyond the ends, or wrapped for a loop."""
    loop = source.settings.loop_crossfade_frames > 0

    def read(p0: int, p1: int) -> np.ndarray:
        if p0 >= 0 and p1 <= source.frames:
            return source.read(p0, p1) * gain
        if loop:  # a loop's neighbours are its own other end
            return _wrap_read(source, p0, p1) * gain
        out = np.zeros((p1 - p0, 2), np.float32)
        a, b = max(p0, 0), min(p1, source.frames)
        if a < b:
            out[a - p0 : b - p0] = source.read(a, b) * gain
        return out

    return read


def _wrap_read(source: PieceSource, p0: int, p1: int) -> np.ndarray:
    parts, p = [], p0
    while p < p1:
        q = p % source.frames
        n = min(p1 - p, source.frames - q)
        parts.append(source.read(q, q + n))
        p += n
    return np.concatenate(parts)


def finish(
    segments: Sequence[Segment],
    master: MasterSettings,
    export: ExportSettings,
    out_dir: Path,
    name: str,
    tags: TagSet,
    *,
    progress: Callable[[str, float], None] | None = None,
) -> FinishReport:
    """Stitch, master and write ``out_dir/name.{wav,mp3,flac}`` atomically, streaming in blocks.

    Args:
        segments: the spooled sessions (:class:`render.master.Segment`), in any order.
        master: :class:`render.master.MasterSettings`.
        export: formats, output rate and encoder settings.
        out_dir: existing directory for the files (temp files are made there too).
        name: file stem.
        tags: metadata for every file.
        progress: called with ``(stage, fraction)``; stages are measure, settle, write.

    Returns:
        A :class:`FinishReport` (seams, loudness before/after, gain, limiter, loop, files, timings).

    Raises:
        MasterError: the segments cannot make the piece.
        ExportError: bad export settings or a file could not be written (no partial file remains).
    """
    from .master import PieceSource, plan_stitch

    if not name or Path(name).name != name or name.startswith("."):
        raise ExportError(f"output name {name!r}: must be a plain file stem (no directories, not hidden)")
    start = time.perf_counter()
    master.validate()
    export.validate()
    clock, notes = _Clock(), []
    t = time.perf_counter()
    plan = plan_stitch(segments, master)
    clock.add("stitch", t)
    source = PieceSource(plan, master)
    measured = _measure_before(source, clock)
    before = measured.stats
    source = source.with_dc(measured.dc)
    if progress:
        progress("measure", 1.0)
    ceiling = master.true_peak_dbtp - MARGIN_DB
    gain_db, search = _initial_gain(master, measured, source.frames, ceiling, notes)
    if progress:
        progress("settle", 1.0)
    after, lim, files, gain_db = _write_all(source, gain_db, ceiling, search, measured, master, export, out_dir, name, tags,
                                            clock, notes, progress)
    loop = None
    if master.loop_crossfade_frames:
        loop = {"start_frame": 0, "length_frames": files[0]["frames"]}
    clock.seconds["total"] = time.perf_counter() - start
    return FinishReport(
        seams=[s.as_dict() for s in plan.seams],
        loudness_before=before.as_dict(),
        loudness_after=after.as_dict(),
        gain_db=round(gain_db, 3),
        limiter_max_reduction_db=round(lim.max_reduction_db, 3),
        limiter_frames_limited=lim.frames_limited,
        loop=loop,
        files=files,
        timings_s={k: round(v, 3) for k, v in clock.seconds.items()},
        notes=notes + [f"DC removed: {[round(float(d), 6) for d in source.dc]}"],
    )


def _initial_gain(master: MasterSettings, measured: _Measured, frames: int, ceiling: float,
                  notes: list[str]) -> tuple[float, _GainSearch | None]:
    """Gain to the loudness target; when the limiter will act, chosen on the limiter model."""
    target, lufs = master.target_lufs, measured.stats.integrated_lufs
    if target is None:
        return 0.0, None
    if lufs is None:
        notes.append("loudness not measurable (silence or < 0.4 s): gain 0 dB")
        return 0.0, None
    gain_db = target - lufs
    if measured.stats.true_peak_dbtp + gain_db <= ceiling:
        return gain_db, None
    search = _GainSearch(target, measured, frames, ceiling)
    gain_db = search.solve(gain_db)
    notes.append(f"limiter expected to act: gain {gain_db:.2f} dB chosen on the limiter model")
    return gain_db, search


def _encode(source: PieceSource, gain_db: float, ceiling: float, export: ExportSettings, out_dir: Path, name: str,
            tags: TagSet, clock: _Clock, progress: Callable[[str, float], None] | None) -> tuple[Any, Any, int, list[_Writer]]:
    """One final pass into fresh temp files; on any error they are deleted and ExportError raised."""
    writers = open_writers(out_dir, name, export, tags)
    try:
        after, lim, frames = _final_pass(source, gain_db, ceiling, writers, export.sample_rate, clock, progress)
        for w in writers:
            w.close()
    except BaseException as exc:
        for w in writers:
            w.abort()
        if isinstance(exc, RenderError) or not isinstance(exc, Exception):
            raise
        raise ExportError(f"writing {name} in {out_dir} failed: {exc}",
                          hint="no partial file was left; fix the cause and re-run") from exc
    return after, lim, frames, writers


def _publish(writers: list[_Writer], tags: TagSet, loop: Loop | None, clock: _Clock) -> list[dict[str, Any]]:
    """Tag and hash every temp file, then move them all onto their final names."""
    try:
        t = time.perf_counter()
        files = [w.prepare(tags, loop) for w in writers]
        for w in writers:
            w.publish()
        clock.add("tags", t)
    except BaseException:
        for w in writers:
            w.abort()
        raise
    return files


def _write_all(source: PieceSource, gain_db: float, ceiling: float, search: _GainSearch | None, measured: _Measured, master: MasterSettings,
               export: ExportSettings, out_dir: Path, name: str, tags: TagSet, clock: _Clock, notes: list[str],
               progress: Callable[[str, float], None] | None) -> tuple[Any, Any, list[dict[str, Any]], float]:
    """Final pass with re-measure: retry (lower ceiling / corrected gain) if the output misses."""
    target = master.target_lufs
    for attempt in range(3):
        after, lim, frames, writers = _encode(source, gain_db, ceiling, export, out_dir, name, tags, clock, progress)
        over_db = after.true_peak_dbtp - (master.true_peak_dbtp - 0.1)
        off_lu = None if target is None or after.integrated_lufs is None else target - after.integrated_lufs
        if attempt < 2 and (over_db > 0 or (off_lu is not None and abs(off_lu) > _RETRY_LU)):
            for w in writers:
                w.abort()
            ceiling -= max(over_db, 0.0) + (0.1 if over_db > 0 else 0.0)
            if off_lu is not None and abs(off_lu) > _RETRY_LU:
                if search is None:
                    search = _GainSearch(target, measured, source.frames, ceiling)
                gain_db = search.correct(gain_db, after.integrated_lufs)
            notes.append(f"attempt {attempt + 1} missed (true peak {after.true_peak_dbtp:.2f} dBTP, loudness {after.integrated_lufs}); re-run")
            continue
        break
    loop = None
    if master.loop_crossfade_frames:
        loop = Loop(start_frame=0, length_frames=frames)
        if frames * 48_000 != source.frames * export.sample_rate:
            notes.append("loop length is not a whole number of output frames; rounded up")
    return after, lim, _publish(writers, tags, loop, clock), gain_db
