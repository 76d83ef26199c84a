"""The schedule (render/schedule.py): exact sample positions, ramps, complete configs, resets.

The property tests generate valid timelines (events in time order, each ramp ending before
the next event) and check the invariants a session relies on.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from render.controls import NUMERIC_RANGES, SCALES, GenerationConfig
from render.schedule import ControlMessage, Schedule, curve_progress, plan, schedule_dict
from render.timeline.loader import LoadedTimeline, parse_timeline, timeline_from_data
from render.timeline.timecode import to_frames

SR = 48_000
ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["Piano", "Sitar", "Indie Pop", "Danceable", "Ambient", "Chiptune"]
CONFIG_VALUES: dict[str, Any] = {
    "guidance": st.integers(0, 60).map(lambda v: v / 10),
    "density": st.integers(0, 20).map(lambda v: v / 20),
    "brightness": st.integers(0, 20).map(lambda v: v / 20),
    "temperature": st.integers(0, 30).map(lambda v: v / 10),
    "top_k": st.integers(1, 1000),
    "bpm": st.integers(60, 200),
    "scale": st.sampled_from(SCALES[1:]),
    "mute_bass": st.booleans(),
    "mute_drums": st.booleans(),
    "music_generation_mode": st.sampled_from(["QUALITY", "DIVERSITY", "VOCALIZATION"]),
}
weights = st.integers(-30, 30).filter(bool).map(lambda v: v / 10)
prompt_sets = st.dictionaries(st.sampled_from(TEXTS), weights, min_size=1, max_size=3)


@st.composite
def events(draw: st.DrawFn, start_ms: int) -> tuple[dict[str, Any], int]:
    """One event at least 1 ms after ``start_ms``; returns it and the ms at which its ramp ends."""
    at_ms = start_ms + draw(st.integers(1, 4000))
    event: dict[str, Any] = {"at": f"{at_ms / 1000}s"}
    parts = draw(st.sets(st.sampled_from(["prompts", "weights", "config", "reset"]), min_size=1, max_size=3))
    if "prompts" in parts:
        event["prompts"] = draw(prompt_sets)
    if "weights" in parts and "prompts" not in parts:
        event["weights"] = draw(st.dictionaries(st.sampled_from(TEXTS), weights, min_size=1, max_size=2))
    if "config" in parts:
        names = draw(st.sets(st.sampled_from(sorted(CONFIG_VALUES)), min_size=1, max_size=3))
        event["config"] = {name: draw(CONFIG_VALUES[name]) for name in sorted(names)}
    if "reset" in parts or len(event) == 1:
        event["reset"] = True
    ramp_ms = draw(st.one_of(st.just(0), st.integers(50, 5000)))
    if ramp_ms:
        event["ramp"] = f"{ramp_ms}ms"
        event["curve"] = draw(st.sampled_from(["linear", "equal-power", "ease"]))
    return event, at_ms + ramp_ms


@st.composite
def timelines(draw: st.DrawFn) -> LoadedTimeline:
    data: dict[str, Any] = {"duration": 0, "seed": draw(st.integers(0, 2**31 - 1)), "prompts": draw(prompt_sets)}
    config = {name: draw(CONFIG_VALUES[name]) for name in draw(st.sets(st.sampled_from(sorted(CONFIG_VALUES))))}
    data["config"] = config
    data["control_interval"] = draw(st.sampled_from(["100ms", "0.25s", "0.5s", "1s", "0.3s"]))
    end_ms, evs = 0, []
    for _ in range(draw(st.integers(0, 6))):
        event, end_ms = draw(events(end_ms))
        evs.append(event)
    data["events"] = evs
    data["duration"] = f"{(end_ms + draw(st.integers(1, 3000))) / 1000}s"
    if draw(st.booleans()):
        data["output"] = {"trim_start": draw(st.sampled_from([0, "6s", "250ms"]))}
    return timeline_from_data(data, source="<generated>")


FAST = settings(max_examples=60, deadline=None)


def _replay(schedule: Schedule, sample: int) -> tuple[tuple[Any, ...], GenerationConfig, int]:
    prompts, config, resets = schedule.initial_prompts, schedule.initial_config, 0
    for msg in schedule.messages:
        if msg.sample <= sample:
            prompts = msg.prompts if msg.kind == "prompts" else prompts
            config = msg.config if msg.kind == "config" else config
            resets += msg.kind == "reset"
    return prompts, config, resets


def _assert_complete(config: GenerationConfig) -> None:
    assert isinstance(config, GenerationConfig)
    assert set(config.as_dict()) == {f.name for f in fields(GenerationConfig)}
    for name in ("guidance", "mute_bass", "mute_drums", "only_bass_and_drums", "music_generation_mode",
                 "temperature", "top_k", "seed"):
        assert getattr(config, name) is not None, name
    for name, (low, high) in NUMERIC_RANGES.items():
        value = getattr(config, name)
        assert value is None or low <= value <= high, (name, value)
    assert isinstance(config.top_k, int) and (config.bpm is None or isinstance(config.bpm, int))


@FAST
@given(timelines())
def test_messages_are_ordered_inside_the_piece(loaded: LoadedTimeline) -> None:
    schedule = plan(loaded)
    order = {"prompts": 0, "config": 1, "reset": 2}
    keys = [(m.sample, order[m.kind]) for m in schedule.messages]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(0 <= m.sample < schedule.duration_frames for m in schedule.messages)
    assert schedule.duration_frames == to_frames(loaded.resolved.duration_s)


@FAST
@given(timelines())
def test_every_message_is_complete(loaded: LoadedTimeline) -> None:
    schedule = plan(loaded)
    _assert_complete(schedule.initial_config)
    assert schedule.initial_config.seed == (loaded.timeline.config.seed if loaded.timeline.config.seed is not None
                                            else loaded.timeline.seed)
    for msg in schedule.messages:
        if msg.kind == "config":
            _assert_complete(msg.config)  # type: ignore[arg-type]
            assert msg.prompts is None
        elif msg.kind == "prompts":
            assert msg.prompts and all(p.weight != 0 and math.isfinite(p.weight) for p in msg.prompts)
            assert msg.config is None
        else:
            assert msg.prompts is None and msg.config is None


def _targets(event: Any) -> tuple[dict[str, float] | None, dict[str, float], dict[str, Any]]:
    prompts = {p.text.lower(): p.weight for p in event.prompts} if event.prompts else None
    weights = {t.lower(): w for t, w in (event.weights or {}).items()}
    return prompts, weights, event.config.given() if event.config else {}


def _ramps_a_fraction(event: Any) -> bool:
    given = event.config.given() if event.config else {}
    return bool(event.prompts or event.weights or {"guidance", "density", "brightness", "temperature"} & given.keys())


def test_a_whole_number_ramp_starts_at_the_event_time() -> None:
    """The case hypothesis found: top_k 1 -> 3 over 201 ms in 50 ms steps, after a bpm change."""
    loaded = parse_timeline("duration: 5\nprompts: [Piano]\ncontrol_interval: 50ms\nconfig: {bpm: 100, top_k: 1}\n"
                            "events:\n  - {at: 1, config: {bpm: 120}}\n"
                            "  - {at: 2, ramp: 201ms, curve: ease, config: {top_k: 3}}\n")
    steps = [(m.sample, m.config.top_k) for m in plan(loaded).messages if m.event == 1 and m.config]
    assert steps[0] == (2 * SR, 2)  # the ramp moves at once: rounded away from the start value
    assert [v for _, v in steps] == [2, 3]  # and never repeats a value


@FAST
@given(timelines())
def test_ramps_reach_their_end_values_exactly(loaded: LoadedTimeline) -> None:
    schedule = plan(loaded)
    interval = schedule.control_interval_frames
    for ev in loaded.resolved.events:
        start, end = to_frames(ev.at_s), to_frames(ev.at_s + ev.ramp_s)
        steps = sorted({m.sample for m in schedule.messages if m.event == ev.index and m.kind != "reset"})
        if steps:
            assert steps[0] == start  # the first step is at the event time
            if _ramps_a_fraction(ev.spec):  # whole-number ramps (top_k alone) skip steps that repeat a value
                assert all(b - a <= interval for a, b in zip(steps, steps[1:]))
            assert steps[-1] < max(end, start + 1)
        prompts, config, _ = schedule.state_at(max(end - 1, start))  # after the last step
        new_prompts, new_weights, new_config = _targets(ev.spec)
        have = {p.text.lower(): p.weight for p in prompts}
        if new_prompts is not None:
            assert have == new_prompts
        for text, weight in new_weights.items():
            assert have[text] == weight  # exactly, not approximately
        for name, value in new_config.items():
            assert getattr(config, name) == value, name


@FAST
@given(timelines())
def test_a_reset_follows_every_bpm_or_scale_change(loaded: LoadedTimeline) -> None:
    schedule = plan(loaded)
    resets = {m.sample for m in schedule.messages if m.kind == "reset"}
    previous = schedule.initial_config
    for msg in schedule.messages:
        if msg.kind == "config":
            assert msg.config is not None
            if (msg.config.bpm, msg.config.scale) != (previous.bpm, previous.scale):
                assert msg.sample in resets, msg
            previous = msg.config
    for ev in loaded.resolved.events:
        if ev.spec.reset:
            assert to_frames(ev.at_s) in resets
    assert len(resets) == len({to_frames(e.at_s) for e in loaded.resolved.events
                               if e.spec.reset or {"bpm", "scale"} & set(e.spec.config.given() if e.spec.config else {})})


@FAST
@given(timelines(), st.data())
def test_state_at_agrees_with_replaying_messages(loaded: LoadedTimeline, data: st.DataObject) -> None:
    schedule = plan(loaded)
    probes = {-1, 0, schedule.duration_frames - 1}
    for msg in schedule.messages:
        probes |= {msg.sample - 1, msg.sample, msg.sample + 1}
    probes.add(data.draw(st.integers(-SR, schedule.duration_frames)))
    for sample in sorted(probes):
        assert schedule.state_at(sample) == _replay(schedule, sample), sample


@FAST
@given(timelines())
def test_final_state_is_the_timeline_applied_in_order(loaded: LoadedTimeline) -> None:
    """An oracle that ignores ramps: apply every event's targets in time order."""
    tl = loaded.timeline
    prompts = {p.text.lower(): p.weight for p in tl.prompts}
    config = tl.initial_config().as_dict()
    for ev in loaded.resolved.events:
        new_prompts, new_weights, new_config = _targets(ev.spec)
        prompts = new_prompts if new_prompts is not None else prompts
        prompts.update(new_weights)
        config.update(new_config)
    schedule = plan(loaded)
    final_prompts, final_config, resets = schedule.state_at(schedule.duration_frames - 1)
    assert {p.text.lower(): p.weight for p in final_prompts} == prompts
    assert final_config.as_dict() == config


@FAST
@given(timelines())
def test_plan_is_pure_and_json_ready(loaded: LoadedTimeline) -> None:
    first, second = plan(loaded), plan(loaded)
    assert first == second
    payload = json.loads(json.dumps(schedule_dict(first)))
    assert [m["sample"] for m in payload["messages"]] == [m.sample for m in first.messages]


# ----------------------------------------------------------------- worked examples

HEAD = "duration: 20\nseed: 42\nprompts: {Piano: 1}\n"


def _plan(text: str, **kwargs: Any) -> Schedule:
    return plan(parse_timeline(text), **kwargs)


def test_seed_example_initial_state() -> None:
    schedule = plan(parse_timeline((ROOT / "timelines" / "seed_example.yaml").read_text()))
    assert [(p.text, p.weight) for p in schedule.initial_prompts] == [("Indie Pop", 0.6), ("Sitar", 2.0),
                                                                       ("Danceable", 1.4)]
    assert schedule.initial_config == GenerationConfig(
        guidance=4.0, bpm=140, density=0.2, brightness=0.7, scale="F_MAJOR_D_MINOR",
        music_generation_mode="QUALITY", seed=42,
    )
    assert schedule.messages == () and schedule.duration_frames == 20 * SR


def test_linear_ramp_steps_every_interval_and_ends_on_target() -> None:
    schedule = _plan(HEAD + "config: {density: 0.2}\nevents:\n  - at: 2\n    config: {density: 0.6}\n    ramp: 2s\n")
    steps = [(m.sample, m.config.density, m.note) for m in schedule.messages]  # type: ignore[union-attr]
    assert steps == [
        (96_000, 0.3, "ramp 1/4"), (120_000, 0.4, "ramp 2/4"), (144_000, 0.5, "ramp 3/4"), (168_000, 0.6, "ramp 4/4"),
    ]


def test_control_interval_is_configurable() -> None:
    text = HEAD + "control_interval: 250ms\nevents:\n  - at: 2\n    weights: {Piano: 2}\n    ramp: 1s\n"
    assert [m.sample for m in _plan(text).messages] == [96_000, 108_000, 120_000, 132_000]
    assert [m.sample for m in _plan(text, control_interval_s=0.5).messages] == [96_000, 120_000]


def test_a_ramp_shorter_than_the_interval_is_one_step() -> None:
    schedule = _plan(HEAD + "events:\n  - at: 2\n    weights: {Piano: 2}\n    ramp: 100ms\n")
    assert [(m.sample, m.prompts[0].weight) for m in schedule.messages] == [(96_000, 2.0)]  # type: ignore[index]


@pytest.mark.parametrize(
    ("curve", "rising", "midpoint"),
    [("linear", True, 0.5), ("ease", True, 0.5), ("ease", False, 0.5),
     ("equal-power", True, math.sin(math.pi / 4)), ("equal-power", False, 1 - math.cos(math.pi / 4))],
)
def test_curve_progress(curve: str, rising: bool, midpoint: float) -> None:
    assert curve_progress(curve, 0.5, rising) == pytest.approx(midpoint)
    assert curve_progress(curve, 0.0, rising) == pytest.approx(0.0)
    assert curve_progress(curve, 1.0, rising) == 1.0
    assert curve_progress("ease", 0.25, True) < 0.25 < curve_progress("equal-power", 0.25, True)


def test_equal_power_crossfade_keeps_power() -> None:
    text = HEAD + "events:\n  - at: 2\n    prompts: {Sitar: 1}\n    ramp: 4s\n    curve: equal-power\n"
    for msg in _plan(text).messages[:-1]:
        w = {p.text: p.weight for p in msg.prompts or ()}
        assert w["Piano"] ** 2 + w["Sitar"] ** 2 == pytest.approx(1.0, abs=1e-5)
    last = _plan(text).messages[-1]
    assert [(p.text, p.weight) for p in last.prompts or ()] == [("Sitar", 1.0)]


def test_replacing_prompts_without_a_ramp_is_one_message() -> None:
    schedule = _plan(HEAD + "events:\n  - at: 3\n    prompts: [Sitar, {text: Drums, weight: -0.5}]\n")
    assert len(schedule.messages) == 1
    msg = schedule.messages[0]
    assert (msg.sample, msg.kind, msg.event) == (144_000, "prompts", 0)
    assert [(p.text, p.weight) for p in msg.prompts or ()] == [("Sitar", 1.0), ("Drums", -0.5)]


def test_bpm_change_sends_config_then_reset_at_the_same_sample() -> None:
    schedule = _plan(HEAD + "config: {bpm: 120}\nevents:\n  - at: 4\n    config: {bpm: 90}\n    weights: {Piano: 2}\n")
    assert [(m.sample, m.kind) for m in schedule.messages] == [(192_000, "prompts"), (192_000, "config"),
                                                              (192_000, "reset")]
    assert schedule.messages[1].config.bpm == 90  # type: ignore[union-attr]
    assert schedule.messages[2].note == "reset: bpm changed"
    assert schedule.warnings and "forces a context reset" in schedule.warnings[0]


def test_bpm_in_a_ramped_event_changes_at_the_start() -> None:
    schedule = _plan(HEAD + "config: {bpm: 120, density: 0}\nevents:\n"
                     "  - at: 4\n    config: {bpm: 90, density: 1}\n    ramp: 1s\n")
    first = [m for m in schedule.messages if m.sample == 192_000]
    assert [m.kind for m in first] == ["config", "reset"] and first[0].config.bpm == 90  # type: ignore[union-attr]
    assert first[0].config.density == 0.5  # type: ignore[union-attr]


def test_explicit_reset_is_its_own_message() -> None:
    schedule = _plan(HEAD + "events:\n  - at: 5.5\n    reset: true\n    label: fresh\n")
    assert schedule.messages == (ControlMessage(sample=264_000, kind="reset", event=0, note="reset"),)


def test_weight_crossing_zero_never_empties_the_prompt_set() -> None:
    schedule = _plan(HEAD + "events:\n  - at: 2\n    weights: {Piano: -1}\n    ramp: 1s\n")
    assert [len(m.prompts or ()) for m in schedule.messages] == [1, 1]
    assert [m.prompts[0].weight for m in schedule.messages] == [-1e-6, -1.0]  # type: ignore[index]


def test_null_density_in_a_ramp_switches_at_the_start() -> None:
    schedule = _plan(HEAD + "config: {density: 0.5}\nevents:\n"
                     "  - at: 8\n    config: {density: null, brightness: 0.5}\n    ramp: 1s\n")
    assert [(m.sample, m.config.density) for m in schedule.messages] == [(384_000, None), (408_000, None)]  # type: ignore[union-attr]


def test_lead_in_tail_and_stream_positions() -> None:
    schedule = _plan(HEAD + "events:\n  - at: 1\n    reset: true\noutput:\n  trim_start: 6s\n  loop: {crossfade: 2s}\n")
    assert (schedule.lead_in_frames, schedule.duration_frames, schedule.tail_frames) == (6 * SR, 20 * SR, 2 * SR)
    assert schedule.total_frames == 28 * SR
    assert schedule.stream_sample(schedule.messages[0].sample) == 7 * SR
    assert schedule.state_at(-SR)[2] == 0 and schedule.state_at(SR)[2] == 1


def test_bar_times_land_on_exact_samples_through_tempo_changes() -> None:
    schedule = plan(parse_timeline((ROOT / "timelines" / "tempo_changes.json").read_text(), is_json=True))
    # 3/4 at 120 bpm: a bar is 1.5 s, so bar 9 is at 12 s; then 150 bpm: a bar is 1.2 s.
    timings = {e.index: (e.sample, e.bar_beat) for e in schedule.events}
    assert timings[0] == (12 * SR, "9.1")
    assert timings[1] == (to_frames(Fraction(12) + 4 * Fraction(6, 5) + Fraction(2, 5)), "13.2")
    assert timings[2] == (to_frames(Fraction(12) + 8 * Fraction(6, 5)), "17.1")
    assert schedule.duration_frames == to_frames(Fraction(12) + 16 * Fraction(6, 5))
    assert schedule.control_interval_frames == 12_000


def test_schedule_dict_shape() -> None:
    schedule = _plan(HEAD + "events:\n  - at: 2\n    config: {density: 1}\n    ramp: 1s\n")
    payload = schedule_dict(schedule)
    assert payload["initial"]["config"]["seed"] == 42 and payload["initial"]["prompts"] == [
        {"text": "Piano", "weight": 1.0}]
    assert [m["sample"] for m in payload["messages"]] == [96_000, 120_000]
    assert payload["messages"][-1]["config"]["density"] == 1 and payload["messages"][-1]["at_s"] == 2.5
    assert payload["events"][0] == {"index": 0, "sample": 96_000, "at_s": 2.0, "written": "2", "bar_beat": None,
                                    "ramp_frames": 48_000}


@st.composite
def bar_timelines(draw: st.DrawFn) -> tuple[LoadedTimeline, list[tuple[int, int]]]:
    """Events at bar.beat positions; tempo changes only on downbeats, so every bar is whole."""
    meter = draw(st.sampled_from([(4, 4), (3, 4), (6, 8)]))
    bars = sorted(draw(st.sets(st.integers(1, 40), min_size=1, max_size=8)))
    written, evs = [], []
    for bar in bars:
        if bar > 1 and draw(st.booleans()):
            evs.append({"at": f"bar {bar}", "config": {"bpm": draw(st.integers(60, 200))}})
            written.append((bar, 1))
        beat = draw(st.integers(2, meter[0]))
        evs.append({"at": draw(st.sampled_from([f"{bar}.{beat}", f"bar {bar} beat {beat}"])), "weights": {"Piano": 2}})
        written.append((bar, beat))
    data = {"duration": f"{bars[-1] + 1} bars", "meter": f"{meter[0]}/{meter[1]}", "prompts": ["Piano"],
            "config": {"bpm": draw(st.integers(60, 200))}, "events": evs}
    return timeline_from_data(data), written


@FAST
@given(bar_timelines())
def test_bar_times_through_tempo_changes_land_where_written(case: tuple[LoadedTimeline, list[tuple[int, int]]]) -> None:
    loaded, written = case
    schedule = plan(loaded)
    timings = sorted(schedule.events, key=lambda e: e.index)
    assert [e.bar_beat for e in timings] == [f"{bar}.{beat}" for bar, beat in written]
    samples = [e.sample for e in timings]
    assert samples == sorted(samples) and len(set(samples)) == len(samples)
    assert all(0 <= m.sample < schedule.duration_frames for m in schedule.messages)
