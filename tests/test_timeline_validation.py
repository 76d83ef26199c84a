"""The bad-input suite: every problem is reported at the exact file:line:col and field path.

Each case is a small timeline with one mistake. The expected line and column point at the
offending value (or key, for unknown keys), counted from 1 as editors do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from render.errors import Problem, TimelineError
from render.timeline.loader import load_timeline, parse_timeline, timeline_from_data

OK = "duration: 20\nprompts: {Piano: 1}\n"  # a valid head that cases extend


@dataclass(frozen=True)
class Case:
    text: str
    line: int
    column: int
    field: str
    message: str
    hint: str | None = None
    is_json: bool | None = None


CASES: dict[str, Case] = {
    "malformed YAML": Case("duration: 20\nprompts: [Piano\n", 3, 1, "", "invalid YAML: expected ',' or ']'"),
    "malformed JSON": Case('{"duration": 20,\n "prompts": {"Piano": 1},}', 2, 26, "",
                           "invalid JSON: Expecting property name", is_json=True),
    "top level not a mapping": Case("- Piano\n- Sitar\n", 1, 1, "", "a timeline must be a mapping",
                                    "start with `duration:` and `prompts:`"),
    "empty file": Case("# nothing yet\n", 1, 1, "", "a timeline must be a mapping of fields, got empty"),
    "unknown top-level key": Case(OK + "titel: Song\n", 3, 1, "titel", "unknown field `titel`", "did you mean `title`?"),
    "unknown nested key": Case(OK + "config:\n  brigthness: 0.5\n", 4, 3, "config.brigthness",
                               "unknown field `brigthness`", "did you mean `brightness`?"),
    "unknown event key": Case(OK + "events:\n  - at: 2\n    reset: true\n    colour: red\n", 6, 5,
                              "events[0].colour", "unknown field `colour`", "allowed: at, config, curve"),
    "wrong type": Case(OK + "seed: lucky\n", 3, 7, "seed", "whole number", None),
    "bpm fractional": Case(OK + "config: {bpm: 120.5}\n", 3, 15, "config.bpm", "fractional part"),
    "bpm too high": Case(OK + "config:\n  bpm: 250\n", 4, 8, "config.bpm", "must be less than or equal to 200, got 250"),
    "density out of range": Case(OK + "config:\n  density: 1.5\n", 4, 12, "config.density",
                                 "less than or equal to 1, got 1.5"),
    "guidance negative": Case(OK + "config:\n  guidance: -1\n", 4, 13, "config.guidance",
                              "greater than or equal to 0, got -1"),
    "top_k zero": Case(OK + "config:\n  top_k: 0\n", 4, 10, "config.top_k", "greater than or equal to 1, got 0"),
    "seed too big": Case(OK + "config:\n  seed: 2147483648\n", 4, 9, "config.seed", "less than or equal to 2147483647"),
    "unknown scale": Case(OK + "config:\n  scale: C_MAJOR\n", 4, 10, "config.scale", "'C_MAJOR' is not allowed",
                          "did you mean C_MAJOR_A_MINOR?"),
    "unknown mode": Case(OK + "config:\n  music_generation_mode: QUALTY\n", 4, 26, "config.music_generation_mode",
                         "'QUALTY' is not allowed", "did you mean QUALITY?"),
    # a null value has no position of its own: the key is reported
    "null guidance": Case(OK + "events:\n  - at: 2\n    config: {guidance: null}\n", 5, 14,
                          "events[0].config.guidance", "guidance cannot be null"),
    "weight 0 (list form)": Case("duration: 20\nprompts:\n  - text: Piano\n    weight: 0\n", 4, 13,
                                 "prompts[0].weight", "weight 0 is refused by the service"),
    "weight 0 (mapping shorthand)": Case("duration: 20\nprompts:\n  Piano: 1\n  Sitar: 0\n", 4, 10,
                                         "prompts[1].weight", "weight 0 is refused"),
    "weight 0 in event weights": Case(OK + "events:\n  - at: 2\n    weights: {Piano: 0}\n", 5, 14,
                                      "events[0].weights", "weight of 'Piano' is 0.0"),
    "empty prompt text": Case("duration: 20\nprompts:\n  - text: '  '\n", 3, 11, "prompts[0].text", "prompt text is empty"),
    "over-long prompt text": Case("duration: 20\nprompts:\n  - text: " + "x" * 501 + "\n", 3, 11, "prompts[0].text",
                                  "501 characters; the limit is 500"),
    "no prompts at all": Case("duration: 20\nprompts: []\n", 2, 10, "prompts", "`prompts` is empty",
                              "give at least one entry"),
    "prompts missing": Case("title: Quiet\nduration: 20\n", 1, 1, "prompts", "missing required field `prompts`"),
    "same prompt twice": Case("duration: 20\nprompts: [Piano, piano]\n", 2, 18, "prompts[1].text",
                              "prompt 'piano' appears twice"),
    "event at the end": Case(OK + "events:\n  - at: 20\n    reset: true\n", 4, 9, "events[0].at",
                             "is at or past the end (0:20.000)", "lengthen `duration`"),
    "event past the end": Case(OK + "events:\n  - at: '1:00'\n    reset: true\n", 4, 9, "events[0].at",
                               "'1:00' (1:00.000) is at or past the end"),
    "event within half a frame of the end": Case(OK + "events:\n  - at: 19.99999\n    reset: true\n", 4, 9,
                                                 "events[0].at", "at or past the end"),
    "negative time": Case(OK + "events:\n  - at: -1s\n    reset: true\n", 4, 9, "events[0].at",
                          "'-1s' is negative; times must be >= 0"),
    "ramp past the end": Case(OK + "events:\n  - at: 15\n    config: {density: 0.5}\n    ramp: 10s\n", 6, 11,
                              "events[0].ramp", "ends at 0:25.000, past the end (0:20.000)", "shorten the ramp"),
    "zero ramp": Case(OK + "events:\n  - at: 5\n    config: {density: 0.5}\n    ramp: 0\n", 6, 11,
                      "events[0].ramp", "ramp must be > 0"),
    "overlapping ramps": Case(
        OK + "events:\n  - at: 2\n    config: {density: 0.5}\n    ramp: 5s\n"
        "  - at: 4\n    config: {density: 0.1}\n    ramp: 5s\n",
        9, 11, "events[1].ramp", "changes density while events[0] still ramps it (0:02.000-0:07.000)",
        "let one ramp end"),
    "overlapping weight ramps": Case(
        OK + "events:\n  - at: 2\n    weights: {Piano: 2}\n    ramp: 4s\n"
        "  - at: 3\n    weights: {piano: 0.5}\n    ramp: 4s\n",
        9, 11, "events[1].ramp", "changes weight of 'piano' while events[0] still ramps it"),
    "instant change inside a ramp": Case(
        OK + "events:\n  - at: 2\n    config: {density: 0.5}\n    ramp: 5s\n"
        "  - at: 4\n    config: {density: 0.1}\n",
        7, 9, "events[1].at", "changes density while events[0] still ramps it"),
    "prompt swap inside a weight ramp": Case(
        OK + "events:\n  - at: 2\n    weights: {Piano: 2}\n    ramp: 4s\n"
        "  - at: 3\n    prompts: [Sitar]\n",
        7, 9, "events[1].at", "changes prompts while events[0] still ramps it"),
    "bar time without bpm": Case(OK + "events:\n  - at: bar 3\n    reset: true\n", 4, 9, "events[0].at",
                                 "'bar 3' is a bar time but no tempo is known", "set config.bpm"),
    "bar duration without bpm": Case("duration: 16 bars\nprompts: {Piano: 1}\n", 1, 11, "duration",
                                     "'16 bars' is in bars but no tempo is known"),
    "beat past the bar": Case(OK + "config: {bpm: 120}\nevents:\n  - at: '2.5'\n    reset: true\n", 5, 9,
                              "events[0].at", "names beat 5 of bar 2, but a 4/4 bar has 4 beats", "use bar 3"),
    "unparseable time": Case(OK + "events:\n  - at: soon\n    reset: true\n", 4, 9, "events[0].at",
                             "cannot read 'soon' as a time", None),
    "event without at": Case(OK + "events:\n  - reset: true\n", 4, 5, "events[0].at", "missing required field `at`"),
    "event that changes nothing": Case(OK + "events:\n  - at: 3\n    label: nothing\n", 4, 5, "events[0]",
                                       "event changes nothing"),
    "empty event config": Case(OK + "events:\n  - at: 3\n    config: {}\n", 4, 5, "events[0]", "config is empty"),
    "unknown curve": Case(OK + "events:\n  - at: 3\n    reset: true\n    curve: smooth\n", 6, 12, "events[0].curve",
                          "'smooth' is not allowed: 'linear', 'equal-power' or 'ease'"),
    "zero duration": Case("duration: 0\nprompts: {Piano: 1}\n", 1, 11, "duration", "duration must be > 0"),
    "mp3 at 96 kHz": Case(OK + "output:\n  formats: [mp3]\n  sample_rate: 96000\n", 5, 16, "output.sample_rate",
                          "MP3 supports at most 48000 Hz, got 96000", "drop mp3"),
    "unsupported sample rate": Case(OK + "output:\n  sample_rate: 12345\n", 4, 16, "output.sample_rate",
                                    "12345 is not allowed"),
    "loop crossfade too long": Case(OK + "output:\n  loop: {crossfade: 15s}\n", 4, 9, "output.loop",
                                    "loop crossfade must be > 0 and under half the duration, got '15s'"),
    "fades longer than the piece": Case(OK + "output:\n  fade_in: 12s\n  fade_out: 10s\n", 5, 13, "output.fade_out",
                                        "fade_in + fade_out are longer than the piece"),
    "unknown key in a bool-or-mapping field": Case(OK + "output:\n  loop: {crossfad: 1s}\n", 4, 10,
                                                   "output.loop.crossfad", "unknown field `crossfad`",
                                                   "did you mean `crossfade`?"),
    "duplicate formats": Case(OK + "output:\n  formats: [wav, wav]\n", 4, 12, "output.formats",
                              "formats lists a format twice"),
    "unknown format": Case(OK + "output:\n  formats: [wav, aiff]\n", 4, 18, "output.formats[1]", "'aiff' is not allowed"),
    "bad meter": Case(OK + "meter: 4/5\n", 3, 8, "meter", "meter '4/5' is not N/D"),
    "path traversal in output name": Case(OK + "output:\n  name: ../x\n", 4, 9, "output.name",
                                          "is not a safe file name"),
    "number as tag text": Case(OK + "output:\n  tags: {year: 2026}\n", 4, 16, "output.tags.year",
                               "expected text, got the number 2026", 'quote it: "2026"'),
    "duplicate YAML key": Case("duration: 20\nprompts: {Piano: 1}\nduration: 30\n", 3, 1, "",
                               'invalid YAML: found duplicate key "duration"'),
    "duplicate JSON key": Case('{"duration": 20, "prompts": {"Piano": 1}, "duration": 30}', 1, 43, "",
                               'invalid JSON: found duplicate key "duration"', is_json=True),
    "unknown key in JSON": Case('{\n  "duration": 20,\n  "prompts": {"Piano": 1},\n  "confg": {"bpm": 120}\n}\n',
                                4, 3, "confg", "unknown field `confg`", "did you mean `config`?", is_json=True),
    "out of range in JSON": Case('{\n  "duration": 20,\n  "prompts": [{"text": "Piano", "weight": 1}],\n'
                                 '  "config": {"bpm": 30}\n}\n', 4, 21, "config.bpm", "greater than or equal to 60",
                                 is_json=True),
    "unsupported version": Case(OK + "version: 2\n", 3, 10, "version", "2 is not allowed"),
}


def problems_of(case: Case) -> list[Problem]:
    with pytest.raises(TimelineError) as info:
        parse_timeline(case.text, source="bad.yaml", is_json=case.is_json)
    return info.value.problems


def test_the_suite_has_at_least_20_distinct_inputs() -> None:
    assert len({c.text for c in CASES.values()}) >= 20


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_reported_exactly(name: str) -> None:
    case = CASES[name]
    found = problems_of(case)
    assert len(found) == 1, "\n".join(p.format() for p in found)
    problem = found[0]
    assert (problem.line, problem.column, problem.field) == (case.line, case.column, case.field), problem.format()
    assert case.message in problem.message, problem.format()
    if case.hint is not None:
        assert problem.hint is not None and case.hint in problem.hint, problem.format()
    assert problem.file == "bad.yaml" and problem.severity == "error"


def test_formatted_problem_reads_file_line_col_field_message_hint() -> None:
    problem = problems_of(CASES["unknown nested key"])[0]
    assert problem.format() == (
        "bad.yaml:4:3: error: config.brigthness: unknown field `brigthness` (hint: did you mean `brightness`?)"
    )


def test_all_schema_errors_in_a_file_are_reported_at_once() -> None:
    text = (
        "durration: 20\n"                 # 1: unknown key (+ duration missing)
        "prompts:\n"
        "  - text: Piano\n"
        "    weight: 0\n"                 # 4: weight 0
        "config:\n"
        "  bpm: 250\n"                    # 6: out of range
        "  scale: F_MAJOR\n"              # 7: unknown scale
        "  brigthness: 0.5\n"             # 8: unknown key
        "output:\n"
        "  formats: [wav, wav]\n"         # 10: duplicate format
    )
    found = problems_of(Case(text, 0, 0, "", ""))
    assert [(p.line, p.field) for p in found] == [
        (1, "duration"), (1, "durration"), (4, "prompts[0].weight"), (6, "config.bpm"),
        (7, "config.scale"), (8, "config.brigthness"), (10, "output.formats"),
    ]
    with pytest.raises(TimelineError, match="7 problems found"):
        parse_timeline(text)


def test_all_semantic_errors_in_a_file_are_reported_at_once() -> None:
    text = OK + (
        "events:\n"
        "  - at: -2\n"                    # 4
        "    reset: true\n"
        "  - at: bar 2\n"                 # 6: no bpm
        "    reset: true\n"
        "  - at: 25\n"                    # 8: past the end
        "    reset: true\n"
        "  - at: 10\n"
        "    config: {density: 0.5}\n"
        "    ramp: 30s\n"                 # 12: past the end
        "output:\n"
        "  formats: [mp3]\n"
        "  sample_rate: 96000\n"          # 15: mp3 at 96 kHz
    )
    found = problems_of(Case(text, 0, 0, "", ""))
    assert sorted((p.line, p.field) for p in found) == [
        (4, "events[0].at"), (6, "events[1].at"), (8, "events[2].at"), (12, "events[3].ramp"),
        (15, "output.sample_rate"),
    ]


def test_reset_warnings_are_warnings_not_errors() -> None:
    text = OK + (
        "config: {bpm: 120, scale: C_MAJOR_A_MINOR}\n"
        "events:\n"
        "  - at: 8\n"
        "    config: {bpm: 100}\n"
        "  - at: 12\n"
        "    config: {scale: G_MAJOR_E_MINOR}\n"
    )
    loaded = parse_timeline(text, source="warn.yaml")
    assert [(w.line, w.column, w.field, w.severity) for w in loaded.warnings] == [
        (6, 19, "events[0].config.bpm", "warning"),
        (8, 21, "events[1].config.scale", "warning"),
    ]
    assert all("forces a context reset" in w.message for w in loaded.warnings)


def test_setting_bpm_to_its_current_value_is_not_a_warning() -> None:
    loaded = parse_timeline(OK + "config: {bpm: 120}\nevents:\n  - at: 8\n    config: {bpm: 120}\n")
    assert loaded.warnings == []


def test_warnings_travel_with_errors() -> None:
    text = OK + "config: {bpm: 120}\nevents:\n  - at: 8\n    config: {bpm: 100}\n  - at: 30\n    reset: true\n"
    with pytest.raises(TimelineError) as info:
        parse_timeline(text)
    assert [p.field for p in info.value.problems] == ["events[1].at"]
    assert [w.field for w in info.value.warnings] == ["events[0].config.bpm"]
    assert "warning" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TimelineError) as info:
        load_timeline(tmp_path / "nope.yaml")
    assert info.value.problems[0].message == "file not found"
    assert info.value.exit_code == 2


def test_load_from_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "song.yml"
    path.write_text(OK + "config:\n  brigthness: 0.5\n")
    with pytest.raises(TimelineError) as info:
        load_timeline(path)
    assert info.value.problems[0].format().startswith(f"{path}:4:3: error: config.brigthness")


def test_undecodable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"duration: 20\nprompts: {Caf\xe9: 1}\n")
    with pytest.raises(TimelineError, match="not UTF-8") as exc:
        load_timeline(path)
    assert (exc.value.problems[0].line, exc.value.problems[0].column) == (2, 14)  # the byte 0xe9


# ----------------------------------------------------------------- accepted forms


def test_prompt_forms_all_mean_the_same() -> None:
    forms = [
        "prompts:\n  - text: Piano\n    weight: 1.0\n  - text: Sitar\n    weight: -0.5\n",
        "prompts:\n  Piano: 1\n  Sitar: -0.5\n",
        "prompts:\n  - Piano\n  - {text: Sitar, weight: -0.5}\n",
    ]
    seen = {
        tuple((p.text, p.weight) for p in parse_timeline("duration: 20\n" + f).timeline.prompts) for f in forms
    }
    assert seen == {(("Piano", 1.0), ("Sitar", -0.5))}


def test_names_are_normalised_and_defaults_filled() -> None:
    loaded = parse_timeline(OK + "config: {scale: f major d minor, music_generation_mode: diversity}\n")
    config = loaded.timeline.initial_config()
    assert config.scale == "F_MAJOR_D_MINOR" and config.music_generation_mode == "DIVERSITY"
    assert config.seed == 0 and config.guidance == 4.0 and config.top_k == 40


def test_schema_key_is_ignored_in_json_and_yaml() -> None:
    parse_timeline('{"$schema": "x.json", "duration": 1, "prompts": ["a"]}', is_json=True)
    parse_timeline("$schema: x.json\nduration: 1\nprompts: [a]\n")


def test_tab_indented_json_loads() -> None:
    loaded = parse_timeline('{\n\t"duration": 20,\n\t"prompts": {"Piano": 1}\n}\n', is_json=True)
    assert loaded.resolved.duration_s == 20


def test_timeline_from_data_reports_field_paths() -> None:
    with pytest.raises(TimelineError) as info:
        timeline_from_data({"duration": 20, "prompts": {"Piano": 1}, "config": {"bpm": 10}}, source="<api>")
    assert [p.field for p in info.value.problems] == ["config.bpm"]
