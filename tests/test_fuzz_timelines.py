"""Hostile timelines (issue 10, timeline half): mutated example timelines and one regression per case.

``validate`` must exit 0, or 2 with the problem at file:line:col; never "internal error", a
traceback or a long run. Hypothesis runs derandomized (tests/conftest.py) with a small budget.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from render.cli import main

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {p.name: p.read_bytes() for p in sorted((ROOT / "timelines").iterdir()) if p.suffix in (".yaml", ".json")}
FUZZ = settings(max_examples=25, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BOUND = 10.0  # seconds for one validate of a mutated example (generous: CI machines are slow)
TINY = "duration: 1.5\nprompts: [Piano]\noutput:\n  formats: [wav]\n"


def validate(path: Path) -> tuple[int, str, float]:
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["-q", "validate", str(path)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue() + err.getvalue(), time.perf_counter() - started


def assert_verdict(path: Path, bound: float = BOUND) -> str:
    code, text, elapsed = validate(path)
    assert "Traceback" not in text and "internal error" not in text, text
    assert elapsed < bound, f"{elapsed:.1f} s\n{text[-2000:]}"
    assert code in (0, 2), text
    if code == 2:
        assert re.search(re.escape(str(path)) + r":[1-9]\d*:[1-9]\d*: error", text), text[-2000:]
    return text


def _check(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / f"fuzz{Path(name).suffix}"
    path.write_bytes(data)
    assert_verdict(path)


# ------------------------------------------------------------------ mutations

_ASCII = st.binary(min_size=1, max_size=6).map(lambda b: bytes(32 + x % 95 for x in b))
_SYNTAX = st.sampled_from([b":", b"-", b" ", b"\n", b"{", b"}", b"[", b"]", b",", b'"', b"'", b"#", b"&a", b"*a",
                           b"!!", b"? ", b"|", b"---\n", b"<<: *a\n"])


@st.composite
def byte_mutants(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SOURCES)))
    data = bytearray(SOURCES[name])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "delete", "insert", "truncate", "duplicate"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        j = min(len(data), i + draw(st.integers(1, 40)))
        blob = draw(st.one_of(_ASCII, _SYNTAX))
        if op == "replace":
            data[i:i + len(blob)] = blob
        elif op == "delete":
            del data[i:j]
        elif op == "insert":
            data[i:i] = blob
        elif op == "truncate":
            del data[i:]
        else:
            data[i:i] = data[i:j]
    return name, bytes(data)


def _tree(name: str) -> Any:
    from ruamel.yaml import YAML

    return json.loads(SOURCES[name]) if name.endswith(".json") else YAML(typ="safe", pure=True).load(SOURCES[name])


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else []
    for k, v in items:
        out += _paths(v, prefix + (k,))
    return out


_WRONG = st.sampled_from([None, True, False, 0, -1, 1.5, "", "x", "1:30", "bar 0", "17.9", "yes", [], {}, [1, 2],
                          {"text": None}, "0" * 40, 2 ** 31, "100h", "1e309s", 1e308, -0.0, "\u202e\x00"])
_NUMBERS = ["1e309", "-1e309", "1" + "0" * 309, "7" * 4301, ".nan", ".inf", "1e308", "0x1F", "4.9e-324", "-0"]


@st.composite
def tree_mutants(draw: st.DrawFn) -> tuple[str, bytes]:
    """Wrong types, deep nesting, shared nodes, hostile strings and numbers, re-serialised."""
    name = draw(st.sampled_from(sorted(SOURCES)))
    tree = _tree(name)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in _paths(tree) if p]))
        parent = tree
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["wrong", "nest", "share", "unicode"]))
        if op == "wrong":
            parent[path[-1]] = draw(_WRONG)
        elif op == "nest":
            node = parent[path[-1]]
            for _ in range(draw(st.integers(1, 60))):
                node = [node] if draw(st.booleans()) else {"k": node}
            parent[path[-1]] = node
        elif op == "share":
            parent[path[-1]] = [copy.deepcopy(tree.get("prompts"))] * draw(st.integers(1, 50))
        elif isinstance(parent[path[-1]], str):
            parent[path[-1]] += draw(st.sampled_from(["\x00", "\u202e", "\ufeff", "\x1b[31m", "=~\n", "\ud800"]))
    text = json.dumps(tree, indent=1)  # JSON is YAML too: the same text exercises both loaders
    token = draw(st.sampled_from(_NUMBERS))
    text = re.sub(r"(?<=: )\d+(\.\d+)?(?=[,\n])", token, text, count=1) if draw(st.booleans()) else text
    return ("t.json" if draw(st.booleans()) else "t.yaml"), text.encode("utf-8", "surrogatepass")


@FUZZ
@given(byte_mutants())
def test_validate_survives_byte_mutations(tmp_path_factory: pytest.TempPathFactory, mutant: tuple[str, bytes]) -> None:
    _check(tmp_path_factory.mktemp("fuzz"), *mutant)


@FUZZ
@given(tree_mutants())
def test_validate_survives_structure_number_and_unicode_mutations(tmp_path_factory: pytest.TempPathFactory,
                                                                  mutant: tuple[str, bytes]) -> None:
    _check(tmp_path_factory.mktemp("fuzz"), *mutant)


# ------------------------------------------------------------------ one regression per case

_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi")) + "duration: 2\nprompts: [P]\n"

CASES = {  # item: (file name, text)
    "5 json nested 1000 deep": ("deep.json", '{"duration": 1, "prompts": ["P"], "x": ' + "[" * 1000 + "]" * 1000 + "}"),
    "5 yaml nested 1000 deep": ("deep.yaml", "duration: 1\nprompts: [P]\nx: " + "[" * 1000 + "]" * 1000 + "\n"),
    "5 number 1e309": ("inf.yaml", "duration: 1e309\nprompts: [P]\n"),
    "5 number 1e309 json": ("inf.json", '{"duration": 1, "prompts": ["P"], "seed": 1e309}'),
    "5 integer of 310 digits": ("big.yaml", "duration: 1" + "0" * 309 + "\nprompts: [P]\n"),
    "5 integer of 4301 digits": ("huge.yaml", "duration: 1\nprompts: [P]\nseed: " + "7" * 4301 + "\n"),
    "5 integer of 4301 digits json": ("huge.json", '{"duration": 1, "prompts": ["P"], "seed": ' + "7" * 4301 + "}"),
    "6 alias bomb": ("bomb.yaml", _BOMB),
    "9 time of 1e37 s": ("late.yaml", "duration: 10\nprompts: [P]\nevents:\n  - at: " + "1" + "0" * 37 + "\n    reset: true\n"),
    "9 duration under one frame": ("short.yaml", "duration: 0.00001\nprompts: [P]\n"),
    **{f"9 tag key {k!r}": ("tag.yaml", "duration: 1\nprompts: [P]\noutput:\n  formats: [flac]\n"
                            f"  tags: {{custom: {{{json.dumps(k)}: v}}}}\n") for k in ["a=b", "a~b", "a\nb", "", "clé"]},
    "10 trim_start 100h": ("trim.yaml", "duration: 2\nprompts: [P]\noutput:\n  trim_start: 100h\n"),
    "10 trim_start 11m": ("trim.yaml", "duration: 2\nprompts: [P]\noutput:\n  trim_start: 11m\n"),
    "10 duration true": ("d.yaml", "duration: true\nprompts: [P]\n"),
    "10 reset yes": ("r.yaml", 'duration: 4\nprompts: [P]\nevents:\n  - at: 1\n    reset: "yes"\n'),
    "10 null prompt key": ("k.yaml", "duration: 4\nprompts:\n  ~: 1\n  Piano: 1\n"),
    "10 list prompt key": ("k.yaml", "duration: 4\nprompts:\n  ? [a, b]\n  : 1\n"),
    "10 control_interval 0": ("ci.yaml", "duration: 4\nprompts: [P]\ncontrol_interval: 0\n"),
    "not UTF-8": ("latin1.yaml", "duration: 4\nprompts: [Caf\xe9]\n"),
    "10 output name with ESC": ("n.yaml", 'duration: 4\nprompts: [P]\noutput: {name: "a\\eb"}\n'),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_hostile_timeline_is_its_own_located_error(tmp_path: Path, case: str) -> None:
    name, text = CASES[case]
    (tmp_path / name).write_text(text, encoding="latin-1" if case == "not UTF-8" else "utf-8")
    code, out, elapsed = validate(tmp_path / name)
    assert code == 2 and "internal error" not in out and "Traceback" not in out, out
    assert re.search(re.escape(str(tmp_path / name)) + r":[1-9]\d*:[1-9]\d*: error", out), out
    assert len(out) < 2000 and elapsed < 5, (elapsed, out[:500])


def test_bad_files_do_not_sink_the_good_one(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(TINY)
    for case in ("5 json nested 1000 deep", "5 integer of 310 digits", "5 integer of 4301 digits json"):
        name, text = CASES[case]
        (tmp_path / name).write_text(text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
        main(["-q", "validate", str(tmp_path)])
    assert exc.value.code == 2 and f"OK {tmp_path / 'good.yaml'}" in out.getvalue(), err.getvalue()
    assert "3 of 4 timeline(s) invalid" in err.getvalue()


def test_alias_bomb_is_refused_within_a_second_with_bounded_memory(tmp_path: Path) -> None:
    import tracemalloc

    (tmp_path / "bomb.yaml").write_text(_BOMB)
    assert len(_BOMB.encode()) < 600
    code, out, elapsed = validate(tmp_path / "bomb.yaml")
    assert code == 2 and "alias *" in out, out
    assert elapsed < 1.0, elapsed
    tracemalloc.start()  # a second run, measured (tracing slows it down)
    try:
        validate(tmp_path / "bomb.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, peak


@pytest.mark.parametrize("argv", [["--control-interval", "inf"], ["--control-interval", "0"]])
def test_plan_refuses_a_control_interval_out_of_range(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "t.yaml").write_text(TINY)
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit) as exc:
        main(["-q", "plan", str(tmp_path / "t.yaml"), *argv])
    assert exc.value.code == 2


@pytest.mark.parametrize("name", ["a\nb", "a\x1bb", "a*b", ".hidden"], ids=["newline", "esc", "star", "hidden"])
def test_name_option_is_checked_before_anything_is_written(tmp_path: Path, name: str) -> None:
    (tmp_path / "t.yaml").write_text(TINY)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as exc:
        main(["-q", "render", str(tmp_path / "t.yaml"), "-o", str(tmp_path / "out"), "--backend", "offline",
              "--name", name])
    assert exc.value.code == 2 and "not a safe file name" in err.getvalue(), err.getvalue()
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*"))


def test_numbers_within_bounds_still_validate(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text("duration: 86400\nprompts: {Piano: 1e-300}\nseed: 2147483647\n"
                                      "output: {trim_start: 10m}\n")
    assert "OK" in assert_verdict(tmp_path / "ok.yaml")


def test_render_refuses_a_seam_alignment_out_of_range(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TINY)
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit) as exc:
        main(["-q", "render", str(tmp_path / "t.yaml"), "-o", str(tmp_path / "out"), "--backend", "offline",
              "--seam-align-ms", "1e308"])
    assert exc.value.code == 2 and not (tmp_path / "out").exists()


def _events_json(n: int) -> str:
    evs = [{"at": round(i * 0.3, 3), "weights": {"Piano": 1 + i % 5}} if i % 2 else
           {"at": round(i * 0.3, 3), "ramp": 0.2, "config": {"density": (i % 10) / 10}} for i in range(n)]
    return json.dumps({"duration": n * 0.3 + 10, "prompts": ["Piano", "Drums"], "config": {"bpm": 120}, "events": evs})


@pytest.mark.slow
def test_ten_thousand_events_validate_in_seconds(tmp_path: Path) -> None:
    """Item 8: the checks after parsing were quadratic (overlaps, tempo anchors); JSON has a fast path."""
    (tmp_path / "big.json").write_text(_events_json(10_000))
    code, out, elapsed = validate(tmp_path / "big.json")
    assert code == 0 and "10000 events" in out, out[-500:]
    assert elapsed < 20, elapsed  # about 2-4 s on a busy 2-core machine


def test_a_yaml_file_over_the_yaml_limit_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text(_events_json(6_000))  # JSON text is YAML too
    code, out, elapsed = validate(tmp_path / "big.yaml")
    assert code == 2 and "limit for YAML" in out and "as JSON" in out, out[-500:]
    assert elapsed < 2, elapsed
