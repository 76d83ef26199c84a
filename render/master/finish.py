"""Mastering: stitch, measure, settle the gain, then one final pass into the sinks.

:func:`master_piece` streams the piece in 5 s blocks through three steps: a measuring
pass (loudness, true peak, DC and 5 ms bins), a gain choice (exact to the target, or on a
model of the limiter when it will act), and one final pass (gain, resample, true-peak
limiter, meters) that feeds every :class:`Sink` (the export stage's encoders). If the
measured output misses the ceiling or the loudness target, the final pass is redone into
fresh sinks with a corrected ceiling or gain.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from render.audio import CHANNELS, SAMPLE_RATE, Segment

from .stitch import MasterSettings, PieceSource, plan_stitch

__all__ = ["master_piece", "MasterReport", "Sink", "BLOCK_FRAMES", "MARGIN_DB"]

#: Frames per processing block (5 s at 48 kHz); tests shrink it to prove streaming == whole.
BLOCK_FRAMES = 240_000
#: Internal ceiling sits this far under the requested true peak (detector and codec slack).
MARGIN_DB = 0.3
#: Bins of the measuring pass used to predict the limiter (5 ms at 48 kHz).
_BIN_FRAMES = 240
_BINS_PER_HOP = 20
#: When the final pass misses the target by more than this, it is redone (spec: +-0.5 LU).
_RETRY_LU = 0.35


class Sink(Protocol):
    """Where the final pass sends its blocks (float32 ``[frames, channels]`` at the output rate)."""

    fmt: str

    def write(self, block: np.ndarray) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


@dataclass(kw_only=True)
class MasterReport:
    """What :func:`master_piece` did, JSON-serialisable through :meth:`as_dict`."""

    seams: list[dict[str, Any]]
    loudness_before: dict[str, Any]
    loudness_after: dict[str, Any]
    gain_db: float
    limiter_max_reduction_db: float
    limiter_frames_limited: int
    frames: int
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

    loud = LoudnessMeter(SAMPLE_RATE, CHANNELS, bins_per_hop=_BINS_PER_HOP)
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

    A model of the limiter (:func:`render.master.limiter.predict_limited_lufs`, on the 5 ms
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


def _final_pass(source: PieceSource, gain_db: float, ceiling: float, writers: Sequence[Sink], rate: int, clock: _Clock,
                progress: Callable[[str, float], None] | None) -> tuple[Any, Any, int]:
    """Gain, resample, limit, meter and encode every block. Returns (after stats, limiter, frames)."""
    from .limiter import TruePeakLimiter
    from .meter import LoudnessMeter, LoudnessStats, TruePeakMeter

    gain = np.float32(10 ** (gain_db / 20))
    read = _gained_reader(source, gain)
    resampler = _Resampler(read, source.frames, SAMPLE_RATE, rate) if rate != SAMPLE_RATE else None
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
        out = np.zeros((p1 - p0, CHANNELS), np.float32)
        a, b = max(p0, 0), min(p1, source.frames)
        if a < b:
            out[a - p0 : b - p0] = source.read(a, b) * gain
        return out

    return read


def _wrap_read(source: PieceSource, p0: int, p1: int) -> np.ndarray:
    """Past the end comes the loop start again; before the head, the loop's end (or silence before an intro)."""
    ls = source.settings.loop_start_frames
    body = source.frames - ls
    parts, p = [], p0
    while p < p1:
        if p < 0 and ls:
            n = min(p1, 0) - p
            parts.append(np.zeros((n, CHANNELS), np.float32))
        else:
            q = p if 0 <= p < source.frames else ls + (p - ls) % body
            n = min(p1 - p, source.frames - q)
            parts.append(source.read(q, q + n))
        p += n
    return np.concatenate(parts)


def master_piece(
    segments: Sequence[Segment],
    settings: MasterSettings,
    open_sinks: Callable[[], Sequence[Sink]],
    *,
    output_rate: int = SAMPLE_RATE,
    progress: Callable[[str, float], None] | None = None,
) -> tuple[MasterReport, list[Sink]]:
    """Stitch and master the spooled ``segments``, streaming the result into sinks.

    Args:
        segments: the spooled sessions (:class:`render.audio.Segment`), in any order.
        settings: :class:`render.master.MasterSettings`.
        open_sinks: makes fresh sinks for one final pass (called again for a retry; the
            sinks of a missed pass are aborted).
        output_rate: the sinks' sample rate (the piece is resampled when it differs).
        progress: called with ``(stage, fraction)``; stages are measure, settle, write.

    Returns:
        The report and the closed sinks of the pass that met the targets. On any error
        every sink is aborted and the error propagates.
    """
    start = time.perf_counter()
    settings.validate()
    clock, notes = _Clock(), []
    t = time.perf_counter()
    plan = plan_stitch(segments, settings)
    clock.add("stitch", t)
    source = PieceSource(plan, settings)
    measured = _measure_before(source, clock)
    source = source.with_dc(measured.dc)
    if progress:
        progress("measure", 1.0)
    ceiling = settings.true_peak_dbtp - MARGIN_DB
    gain_db, search = _initial_gain(settings, measured, source.frames, ceiling, notes)
    if progress:
        progress("settle", 1.0)
    final = _Final(source, settings, measured, open_sinks, output_rate, clock, notes, progress)
    after, lim, frames, sinks, gain_db = final.run(gain_db, ceiling, search)
    if settings.loop_crossfade_frames and frames * SAMPLE_RATE != source.frames * output_rate:
        notes.append("loop length is not a whole number of output frames; rounded up")
    clock.seconds["total"] = time.perf_counter() - start
    report = MasterReport(
        seams=[s.as_dict() for s in plan.seams],
        loudness_before=measured.stats.as_dict(),
        loudness_after=after.as_dict(),
        gain_db=round(gain_db, 3),
        limiter_max_reduction_db=round(lim.max_reduction_db, 3),
        limiter_frames_limited=lim.frames_limited,
        frames=frames,
        timings_s={k: round(v, 3) for k, v in clock.seconds.items()},
        notes=notes + [f"DC removed: {[round(float(d), 6) for d in source.dc]}"],
    )
    return report, sinks


def _initial_gain(settings: MasterSettings, measured: _Measured, frames: int, ceiling: float,
                  notes: list[str]) -> tuple[float, _GainSearch | None]:
    """Gain to the loudness target; when the limiter will act, chosen on the limiter model."""
    target, lufs = settings.target_lufs, measured.stats.integrated_lufs
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


@dataclass
class _Final:
    """The final pass, redone (into fresh sinks) while the output misses its targets."""

    source: PieceSource
    settings: MasterSettings
    measured: _Measured
    open_sinks: Callable[[], Sequence[Sink]]
    rate: int
    clock: _Clock
    notes: list[str]
    progress: Callable[[str, float], None] | None

    def once(self, gain_db: float, ceiling: float) -> tuple[Any, Any, int, list[Sink]]:
        sinks = list(self.open_sinks())
        try:
            after, lim, frames = _final_pass(self.source, gain_db, ceiling, sinks, self.rate, self.clock, self.progress)
            for w in sinks:
                w.close()
        except BaseException:
            for w in sinks:
                w.abort()
            raise
        return after, lim, frames, sinks

    def run(self, gain_db: float, ceiling: float, search: _GainSearch | None) -> tuple[Any, Any, int, list[Sink], float]:
        target = self.settings.target_lufs
        for attempt in range(3):
            after, lim, frames, sinks = self.once(gain_db, ceiling)
            over_db = after.true_peak_dbtp - (self.settings.true_peak_dbtp - 0.1)
            off_lu = None if target is None or after.integrated_lufs is None else target - after.integrated_lufs
            missed = over_db > 0 or (off_lu is not None and abs(off_lu) > _RETRY_LU)
            if attempt == 2 or not missed:
                break
            for w in sinks:
                w.abort()
            ceiling -= max(over_db, 0.0) + (0.1 if over_db > 0 else 0.0)
            if off_lu is not None and abs(off_lu) > _RETRY_LU:
                if search is None:
                    search = _GainSearch(target, self.measured, self.source.frames, ceiling)
                gain_db = search.correct(gain_db, after.integrated_lufs)
            self.notes.append(f"attempt {attempt + 1} missed (true peak {after.true_peak_dbtp:.2f} dBTP, "
                              f"loudness {after.integrated_lufs}); re-run")
        return after, lim, frames, sinks, gain_db
