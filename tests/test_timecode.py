"""Time syntax and the tempo map (render/timecode.py): exact parsing, round trips, bars."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from render.timeline.timecode import (
    BarPosition,
    MusicalLength,
    Seconds,
    TempoMap,
    format_seconds,
    parse_duration,
    parse_meter,
    parse_time,
    to_frames,
)

FAST = settings(max_examples=60, deadline=None)

# Milliseconds up to 10 h: every one has an exact decimal spelling.
millis = st.integers(min_value=0, max_value=10 * 3600 * 1000)


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        (90, Fraction(90)),
        (1.5, Fraction(3, 2)),
        ("90", Fraction(90)),
        ("90s", Fraction(90)),
        ("90 seconds", Fraction(90)),
        ("250ms", Fraction(1, 4)),
        ("1:30", Fraction(90)),
        ("1:30.250", Fraction(361, 4)),
        ("1:02:03", Fraction(3723)),
        ("1m30s", Fraction(90)),
        ("1h2m3.5s", Fraction(7447, 2)),
        ("2m", Fraction(120)),
        ("-1:30", Fraction(-90)),
        ("  8s  ", Fraction(8)),
    ],
)
def test_second_forms(written: object, seconds: Fraction) -> None:
    assert parse_time(written) == Seconds(seconds)


@pytest.mark.parametrize(
    ("written", "bar", "beat"),
    [
        ("bar 17", 17, Fraction(1)),
        ("Bar 17", 17, Fraction(1)),
        ("bar 17.3", 17, Fraction(3)),
        ("bar 17 beat 2.5", 17, Fraction(5, 2)),
        ("17.3", 17, Fraction(3)),  # a quoted bar.beat, not 17.3 seconds
        ("9.1", 9, Fraction(1)),
        ("2.3.5", 2, Fraction(7, 2)),
    ],
)
def test_bar_forms(written: str, bar: int, beat: Fraction) -> None:
    assert parse_time(written) == BarPosition(bar, beat)


def test_unquoted_decimal_is_seconds_but_quoted_is_a_bar() -> None:
    assert parse_time(17.3) == Seconds(Fraction("17.3"))
    assert parse_time("17.3") == BarPosition(17, Fraction(3))


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("soon", "cannot read 'soon' as a time"),
        ("1:75", "seconds must be below 60"),
        ("1:61:00", "minutes must be below 60"),
        ("bar 0", "bars are counted from 1"),
        ("3.0", "beats are counted from 1"),
        (True, "expected a time, got bool"),
        (None, "expected a time, got NoneType"),
        (float("inf"), "not a finite number"),
        (float("nan"), "not a finite number"),
    ],
)
def test_bad_times_say_what_is_accepted(written: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_time(written)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("written", "length"),
    [
        ("4 bars", MusicalLength(Fraction(4), Fraction(0))),
        ("1 bar", MusicalLength(Fraction(1), Fraction(0))),
        ("2 beats", MusicalLength(Fraction(0), Fraction(2))),
        ("2 bars 1 beat", MusicalLength(Fraction(2), Fraction(1))),
        ("8s", Seconds(Fraction(8))),
        ("0:08", Seconds(Fraction(8))),
        (12.5, Seconds(Fraction(25, 2))),
    ],
)
def test_duration_forms(written: object, length: object) -> None:
    assert parse_duration(written) == length


def test_bad_duration_lists_the_forms() -> None:
    with pytest.raises(ValueError, match=r"cannot read 'a while' as a duration; use seconds .*\"4 bars\""):
        parse_duration("a while")


@pytest.mark.parametrize(("text", "meter"), [("4/4", (4, 4)), ("6/8", (6, 8)), (" 7 / 16 ", (7, 16))])
def test_meter(text: str, meter: tuple[int, int]) -> None:
    assert parse_meter(text) == meter


@pytest.mark.parametrize("text", ["4/5", "0/4", "four", "4"])
def test_bad_meter(text: str) -> None:
    with pytest.raises(ValueError, match="is not N/D"):
        parse_meter(text)


# ----------------------------------------------------------------- round trips (hypothesis)


@FAST
@given(millis)
def test_clock_string_round_trips(ms: int) -> None:
    exact = Fraction(ms, 1000)
    text = format_seconds(float(exact))
    assert parse_time(text) == Seconds(exact), text


@FAST
@given(millis)
def test_minutes_seconds_string_round_trips(ms: int) -> None:
    exact = Fraction(ms, 1000)
    minutes, rest = divmod(exact, 60)
    text = f"{minutes}m{float(rest):g}s" if rest else f"{minutes}m"
    assert parse_time(text) == Seconds(exact), text


@FAST
@given(millis, st.sampled_from(["s", " s", "sec", " seconds"]))
def test_seconds_string_round_trips(ms: int, unit: str) -> None:
    exact = Fraction(ms, 1000)
    decimal = f"{ms // 1000}.{ms % 1000:03d}"
    assert parse_time(decimal + unit) == Seconds(exact)
    assert parse_duration(decimal + unit) == Seconds(exact)


@FAST
@given(st.floats(min_value=-7200, max_value=7200, allow_nan=False))
def test_format_seconds_rounds_to_the_millisecond(seconds: float) -> None:
    text = format_seconds(seconds)
    minutes, secs = text.lstrip("-").split(":")
    assert 0 <= float(secs) < 60, text
    assert abs(float(parse_time(text).value) - seconds) <= 0.0005 + 1e-9, text


def test_format_seconds_never_prints_sixty_seconds() -> None:
    assert format_seconds(59.9996) == "1:00.000"
    assert format_seconds(2_879_999 / 48_000) == "1:00.000"
    assert format_seconds(83.25) == "1:23.250"
    assert format_seconds(-1.5) == "-0:01.500"


# ----------------------------------------------------------------- tempo map

bpms = st.integers(min_value=60, max_value=200)
meters = st.sampled_from([(4, 4), (3, 4), (6, 8), (7, 8), (2, 2), (5, 4)])


def test_constant_tempo_positions() -> None:
    tm = TempoMap.constant(120)  # a 4/4 bar lasts 2 s
    assert tm.position_s(BarPosition(1)) == 0
    assert tm.position_s(BarPosition(17)) == 32
    assert tm.position_s(BarPosition(17, Fraction(3))) == 33
    assert TempoMap.constant(120, (6, 8)).bar_s(120) == Fraction(3, 2)  # six eighths at 120 eighths/min


@FAST
@given(bpms, meters, st.lists(st.tuples(st.integers(1, 40), st.integers(0, 15)), min_size=2, max_size=12))
def test_bar_beat_positions_are_monotonic(bpm: int, meter: tuple[int, int], raw: list[tuple[int, int]]) -> None:
    tm = TempoMap.constant(bpm, meter)
    positions = sorted({(bar, Fraction(1) + Fraction(q, 4)) for bar, q in raw if 1 + q / 4 < meter[0] + 1})
    times = [tm.position_s(BarPosition(bar, beat)) for bar, beat in positions]
    assert times == sorted(times) and len(set(times)) == len(times)


@FAST
@given(bpms, bpms, meters, st.integers(2, 12), st.integers(0, 7))
def test_tempo_change_starts_a_new_bar(bpm: int, new_bpm: int, meter: tuple[int, int], bar: int, eighths: int) -> None:
    tm = TempoMap.constant(bpm, meter)
    change_s = tm.position_s(BarPosition(bar)) + tm.bar_s(bpm) * Fraction(eighths, 8)
    changed = tm.with_change(change_s, new_bpm)
    next_bar = bar if eighths == 0 else bar + 1
    assert changed.position_s(BarPosition(next_bar)) == change_s  # the change is a downbeat
    assert changed.position_s(BarPosition(next_bar + 1)) == change_s + changed.bar_s(new_bpm)
    assert changed.label(change_s) == f"{next_bar}.1"
    assert changed.bpm_at(change_s) == new_bpm and changed.bpm_at(change_s - Fraction(1, 1000)) == bpm
    # earlier bars keep their old times
    assert changed.position_s(BarPosition(bar)) == tm.position_s(BarPosition(bar))


@FAST
@given(bpms, bpms, st.integers(2, 10), st.integers(1, 6))
def test_lengths_in_bars_follow_the_tempo_map(bpm: int, new_bpm: int, change_bar: int, bars: int) -> None:
    tm = TempoMap.constant(bpm).with_change(TempoMap.constant(bpm).position_s(BarPosition(change_bar)), new_bpm)
    start = Fraction(0)
    end = start + tm.length_s(start, MusicalLength(Fraction(change_bar - 1 + bars), Fraction(0)))
    assert end == tm.position_s(BarPosition(change_bar + bars))


@FAST
@given(bpms, st.integers(1, 300))
def test_frame_rounded_downbeat_labels_as_its_bar(bpm: int, bar: int) -> None:
    tm = TempoMap.constant(bpm)
    at_frame = Fraction(to_frames(tm.position_s(BarPosition(bar))), 48_000)
    assert tm.label(at_frame) == f"{bar}.1"


def test_label_shows_fractional_beats() -> None:
    tm = TempoMap.constant(120)
    assert tm.label(Fraction(33)) == "17.3"
    assert tm.label(Fraction(133, 4)) == "17.3.5"


@pytest.mark.parametrize(("seconds", "frames"), [(Fraction(1), 48_000), (Fraction(1, 96_000), 1), (Fraction(1, 96_001), 0)])
def test_to_frames_rounds_half_up(seconds: Fraction, frames: int) -> None:
    assert to_frames(seconds) == frames
