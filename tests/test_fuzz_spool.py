"""Fuzzing a kept spool (issue 10): tampered index, meta and PCM files never reach outside the spool.

A 1 s offline render is kept with ``--keep-spool``; hypothesis (derandomized, see conftest)
mutates copies of its spool, then ``render --resume`` must exit 2 naming ``--fresh`` (or
render the exact length), ``--fresh`` must then work, never a traceback, and the sentinel
files outside the spool must keep their bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import wave
from pathlib import Path
from typing import Any, Callable

import pytest
from helpers.hostile import SPOOL, cli, copy_proto, make_proto, render_args, tree_hash
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

Mutation = Callable[[Path, Path], None]  # (spool, outside folder)

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=False),
                 st.text(max_size=12), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                            st.integers(), max_size=2))
PATHS = st.sampled_from(["{outside}/sentinel.txt", "../../../outside/sentinel.txt", "seg-0001.pcm", "", "/",
                         "sub/seg-0000.pcm", "..", "lock", "meta.json", "seg-0000.pcm/../../x"])


def _lines(sp: Path) -> list[bytes]:
    return (sp / "index.jsonl").read_bytes().splitlines(keepends=True)


def _edit_line(index: int, edit: Callable[[dict[str, Any]], None]) -> Mutation:
    def mutate(sp: Path, outside: Path) -> None:
        lines = _lines(sp)
        line = json.loads(lines[index % len(lines)])
        edit(line)
        lines[index % len(lines)] = (json.dumps(line) + "\n").encode()
        (sp / "index.jsonl").write_bytes(b"".join(lines))
    return mutate


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda line: line.__setitem__(key, value)


def _file_path(index: int, template: str) -> Mutation:
    def mutate(sp: Path, outside: Path) -> None:
        _edit_line(index, _set("file", template.format(outside=outside)))(sp, outside)
    return mutate


def _raw_line(index: int, data: bytes) -> Mutation:
    def mutate(sp: Path, outside: Path) -> None:
        lines = _lines(sp)
        lines.insert(index % (len(lines) + 1), data + b"\n")
        (sp / "index.jsonl").write_bytes(b"".join(lines))
    return mutate


def _meta(key: str, value: Any) -> Mutation:
    def mutate(sp: Path, outside: Path) -> None:
        meta = json.loads((sp / "meta.json").read_text())
        meta[key] = value
        (sp / "meta.json").write_text(json.dumps(meta))
    return mutate


def _pcm_size(size: int) -> Mutation:
    def mutate(sp: Path, outside: Path) -> None:
        pcm = sp / "seg-0000.pcm"
        data = pcm.read_bytes()
        pcm.write_bytes(data[:size] if size <= len(data) else data + b"\x01" * (size - len(data)))
    return mutate


def _replace_with(name: str, kind: str) -> Mutation:
    def mutate(sp: Path, outside: Path) -> None:
        target = sp / name
        target.unlink(missing_ok=True)
        if kind == "symlink":
            target.symlink_to(outside / "big.bin")
        elif kind == "hardlink":
            os.link(outside / "big.bin", target)
        elif kind == "dir":
            target.mkdir()
        else:
            target.write_bytes(b"\xff\xfe{garbage")
    return mutate


MUTATIONS = st.one_of(
    st.builds(_file_path, st.integers(0, 3), PATHS),
    st.builds(lambda i, k, v: _edit_line(i, _set(k, v)), st.integers(0, 3),
              st.sampled_from(["segment", "start", "frames", "offset", "reason", "t", "spans", "info", "data"]), JUNK),
    st.builds(_raw_line, st.integers(0, 4), st.binary(max_size=24)),
    st.builds(_meta, st.sampled_from(["name", "timeline_sha256", "schedule_digest", "format", "extra"]), JUNK),
    st.builds(_pcm_size, st.integers(0, 200_000)),
    st.builds(_replace_with, st.sampled_from(["seg-0000.pcm", "seg-0001.pcm", "index.jsonl", "meta.json", "lock"]),
              st.sampled_from(["symlink", "hardlink", "dir", "garbage"])),
)


@pytest.fixture(scope="module")
def proto(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_proto(tmp_path_factory.mktemp("fuzz-proto"))


def _frames(path: Path) -> int:
    with wave.open(str(path)) as w:
        return w.getnframes()


@pytest.mark.slow
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking or tracing: each example renders
@given(mutations=st.lists(MUTATIONS, min_size=1, max_size=3))
def test_tampered_spools_are_refused_or_render_and_never_touch_outside(
        proto: Path, mutations: list[Mutation], capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        case = copy_proto(proto, Path(tmp) / "case")
        outside = case / "outside"
        for mutate in mutations:
            try:
                mutate(case / SPOOL, outside)
            except (OSError, ValueError):
                pass  # an earlier mutation made this one moot (e.g. the index is now a folder)
        before = tree_hash(outside)  # after tampering: a mutation may write through a link it planted
        code, _, err = cli(render_args(case, "--resume"), capsys)
        assert "Traceback" not in err and "internal error" not in err, err
        assert code in (0, 2), err
        if code == 0:
            assert _frames(case / "out/t.wav") == 48_000
        else:
            assert "--fresh" in err or "--resume" in err, err
            code, _, err = cli(render_args(case, "--fresh"), capsys)
            assert code == 0, err
            assert _frames(case / "out/t.wav") == 48_000
        assert tree_hash(outside) == before
        shutil.rmtree(case, ignore_errors=True)
