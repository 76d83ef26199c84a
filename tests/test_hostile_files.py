"""Issue 10, the file-system half: spools, outputs, FIFOs, OS errors, inspect, exit codes, serve.

One regression test (or a small parametrized family) per numbered item, all through the
real CLI entry point (``render.cli.main``) with the offline backend.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from helpers.hostile import SPOOL, TINY, cli, copy_proto, make_proto, read_index, render_args, tree_hash, write_index

from render.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from render.files import walk_files

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def proto(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_proto(tmp_path_factory.mktemp("proto"))


@pytest.fixture()
def case(proto: Path, tmp_path: Path) -> Path:
    return copy_proto(proto, tmp_path / "case")


def _frames(path: Path) -> int:
    with wave.open(str(path)) as w:
        return w.getnframes()


# ---- 1: nothing read from a spool is trusted with a path, a size or a frame count


def _index_file(path: str):
    def tamper(sp: Path) -> None:
        lines = read_index(sp)
        lines[0]["file"] = path
        write_index(sp, lines)
    return tamper


def _pcm_link(sp: Path) -> None:
    (sp / "seg-0000.pcm").unlink()
    (sp / "seg-0000.pcm").symlink_to(sp.parents[2] / "outside" / "big.bin")


def _negative_frames(sp: Path) -> None:
    write_index(sp, [{**line, "frames": -line["frames"]} if line["t"] == "chunk" else line for line in read_index(sp)])


def _index_link(sp: Path) -> None:
    (sp / "index.jsonl").unlink()
    (sp / "index.jsonl").symlink_to(sp.parents[2] / "outside" / "sentinel.txt")


TAMPERS = {
    "absolute-file": lambda sp: _index_file(str(sp.parents[2] / "outside" / "sentinel.txt"))(sp),
    "dotdot-file": _index_file("../../../outside/sentinel.txt"),
    "pcm-symlink-out": _pcm_link,
    "index-symlink-out": _index_link,
    "negative-frames": _negative_frames,
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampered_spool_is_refused_naming_fresh_and_nothing_outside_changes(
        case: Path, tamper: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_hash(case / "outside")
    TAMPERS[tamper](case / SPOOL)
    code, _, err = cli(render_args(case, "--resume"), capsys)
    assert code == EXIT_USAGE and "--fresh" in err and "Traceback" not in err, err
    assert tree_hash(case / "outside") == before
    code, _, err = cli(render_args(case, "--fresh"), capsys)
    assert code == EXIT_OK, err
    assert tree_hash(case / "outside") == before and _frames(case / "out/t.wav") == 48_000


def test_truncated_pcm_is_rerendered_to_the_exact_length(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pcm = case / SPOOL / "seg-0000.pcm"
    pcm.write_bytes(pcm.read_bytes()[:40_001])
    code, _, err = cli(render_args(case, "--resume"), capsys)
    assert code == EXIT_OK, err
    assert _frames(case / "out/t.wav") == 48_000


@pytest.mark.parametrize("what", ["meta.json", "index.jsonl", "seg-0000.pcm", "lock"])
def test_fresh_works_when_a_spool_file_is_a_folder(case: Path, what: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = case / SPOOL / what
    target.unlink()
    target.mkdir()
    code, _, err = cli(render_args(case, "--resume"), capsys)
    assert code == EXIT_USAGE and "--fresh" in err, err
    code, _, err = cli(render_args(case, "--fresh"), capsys)
    assert code == EXIT_OK, err


def test_plain_batch_refuses_a_poisoned_leftover_spool(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_hash(case / "outside")
    (case / "out/t.manifest.json").unlink()
    TAMPERS["absolute-file"](case / SPOOL)
    code, _, err = cli(["batch", str(case / "in"), "-o", str(case / "out"), "--backend", "offline", "--jobs", "1"],
                       capsys)
    assert code == EXIT_USAGE and "Traceback" not in err
    assert tree_hash(case / "outside") == before


# ---- 2: outputs never replace inputs


def test_manifest_is_name_manifest_json_and_never_replaces_a_json_timeline(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "d" / "song.json"
    src.parent.mkdir()
    src.write_text(json.dumps({"duration": 1, "prompts": ["Piano"], "output": {"formats": ["wav"]}}))
    before = src.read_bytes()
    code, out, err = cli(["render", str(src), "-o", str(src.parent), "--backend", "offline"], capsys)
    assert code == EXIT_OK, err
    assert src.read_bytes() == before
    manifest = json.loads((src.parent / "song.manifest.json").read_text())
    assert manifest["job_hash"] and str(src.parent / "song.manifest.json") in out


def test_an_output_that_is_an_input_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "song.wav"  # a YAML timeline with an audio file's name
    src.write_text(TINY)
    code, _, err = cli(["render", str(src), "-o", str(tmp_path), "--backend", "offline"], capsys)
    assert code == EXIT_USAGE and "is the input file" in err
    assert src.read_text() == TINY
    (tmp_path / "in").mkdir()
    timeline = tmp_path / "in" / "t.json"
    timeline.write_text(json.dumps({"duration": 1, "prompts": ["Piano"]}))
    code, _, err = cli(["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(timeline)], capsys)
    assert code == EXIT_USAGE and "is the input file" in err
    assert json.loads(timeline.read_text())["duration"] == 1


# ---- 3: the work folder is never a symbolic link out


def test_render_refuses_a_symlinked_work_folder(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(case / "out")
    (case / "out").mkdir()
    (case / "out/.lyria-render").symlink_to(case / "outside", target_is_directory=True)
    before = tree_hash(case / "outside")
    code, _, err = cli(render_args(case), capsys)
    assert code == EXIT_USAGE and "outside" in err and "symbolic link" in err
    assert tree_hash(case / "outside") == before


# ---- 4: a killed export's temp files are cleaned on the next run of that job


def test_next_run_cleans_only_this_jobs_part_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.yaml").write_text(TINY)
    out = tmp_path / "out"
    out.mkdir()
    mine = [".t.ab12cd_9.part.wav", ".t.manifest.zz99yy88.part.json"]
    others = [".t.ab12cd_9.part.txt", ".other.ab12cd_9.part.wav", ".t.toolongname.part.wav", "t.part.wav"]
    for name in mine + others:
        (out / name).write_bytes(b"RIFF....")
    code, _, err = cli(["render", str(tmp_path / "t.yaml"), "-o", str(out), "--backend", "offline"], capsys)
    assert code == EXIT_OK, err
    left = {p.name for p in out.iterdir()}
    assert not left & set(mine) and set(others) <= left


# ---- 7: never a hang on a FIFO or a symlink loop


@pytest.mark.timeout(60)
@pytest.mark.parametrize("argv", [
    ["render", "{fifo}", "-o", "{tmp}/out", "--backend", "offline"],
    ["plan", "{fifo}"],
    ["inspect", "{fifo}"],
    ["batch", "--jobs-file", "{fifo}", "-o", "{tmp}/out", "--backend", "offline"],
    ["validate", "{fifo}"],
])
def test_a_fifo_is_refused_not_opened(tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "t.yaml"
    os.mkfifo(fifo)
    code, _, err = cli([a.format(fifo=fifo, tmp=tmp_path) for a in argv], capsys)
    assert code == EXIT_USAGE and "not a regular file" in err, err


@pytest.mark.timeout(60)
def test_folders_with_symlink_loops_and_fifos_are_walked_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "loop/a").mkdir(parents=True)
    (tmp_path / "loop/a/t.yaml").write_text(TINY)
    os.mkfifo(tmp_path / "loop/a/f.yaml")
    for name in ("b1", "b2"):
        (tmp_path / "loop/a" / name).symlink_to("..", target_is_directory=True)
    found = list(walk_files(tmp_path / "loop"))
    assert [p.name for p in found] == ["t.yaml"]
    code, _, err = cli(["validate", f"{tmp_path}/loop/**/*.yaml"], capsys)
    assert code == EXIT_OK, err


# ---- 9: OS errors get a real message and exit 2 (1 mid-render, with --resume named)


def test_os_refusals_before_a_render_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.yaml").write_text(TINY)
    (tmp_path / "afile").write_text("x")
    args = ["render", str(tmp_path / "t.yaml"), "--backend", "offline"]
    for extra, fragment in [
        (["-o", str(tmp_path / "afile")], "not a folder"),
        (["-o", str(tmp_path / "afile/sub")], "afile"),
        (["-o", str(tmp_path / "out"), "--name", "n" * 250], "too long"),
    ]:
        code, _, err = cli(args + extra, capsys)
        assert code == EXIT_USAGE and fragment in err and "internal error" not in err, err
    assert (tmp_path / "afile").read_text() == "x"


def test_a_read_only_folder_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.yaml").write_text(TINY)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "out"))

    monkeypatch.setattr("render.pipeline.run.Spool.create", refuse)
    code, _, err = cli(["render", str(tmp_path / "t.yaml"), "-o", str(tmp_path / "out"), "--backend", "offline"], capsys)
    assert code == EXIT_USAGE and "Read-only file system" in err and "write elsewhere" in err


def test_disk_full_mid_render_exits_1_and_names_resume_which_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.yaml").write_text(TINY)
    args = ["render", str(tmp_path / "t.yaml"), "-o", str(tmp_path / "out"), "--backend", "offline"]

    def full(path: Path, *a: object, **k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with monkeypatch.context() as m:
        m.setattr("render.pipeline.run.atomic_write_text", full)
        code, _, err = cli(args, capsys)
    assert code == EXIT_FAILED and "No space left on device" in err and "--resume" in err, err
    code, _, err = cli(args + ["--resume"], capsys)
    assert code == EXIT_OK, err
    assert _frames(tmp_path / "out/t.wav") == 48_000


def test_bad_batch_files_and_key_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in/t.yaml").write_text(TINY)
    (tmp_path / "rep").mkdir()
    (tmp_path / "jobs.yaml").write_bytes(b"jobs:\n  - timeline: in/t\xff\xfe.yaml\n")
    cases = [
        (["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--report", str(tmp_path / "rep")], "is a folder"),
        (["batch", "--jobs-file", str(tmp_path / "jobs.yaml"), "-o", str(tmp_path / "out")], "not UTF-8"),
        (["render", str(tmp_path / "in/t.yaml"), "--backend", "lyria", "--api-key-file", "/dev/zero", "--dry-run"],
         "not a regular file"),
    ]
    for argv, fragment in cases:
        code, _, err = cli(argv, capsys)
        assert code == EXIT_USAGE and fragment in err, err
    assert not (tmp_path / "out").exists()


# ---- 11: inspect never crashes


def _write_wav(path: Path, channels: int, data: np.ndarray | None = None) -> Path:
    import soundfile as sf

    frames = np.zeros((4800, channels), np.float32) if data is None else data
    sf.write(path, frames, 48_000, subtype="FLOAT" if data is not None else "PCM_16")
    return path


def test_inspect_refuses_unreadable_audio_with_exit_2(proto: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import soundfile as sf

    flac = tmp_path / "t.flac"
    sf.write(flac, np.random.default_rng(0).uniform(-0.5, 0.5, (48_000, 2)), 48_000, format="FLAC")
    flac.write_bytes(flac.read_bytes()[: flac.stat().st_size // 3])
    for path in (flac, _write_wav(tmp_path / "eight.wav", 8)):
        code, _, err = cli(["inspect", str(path)], capsys)
        assert code == EXIT_USAGE and "Error:" in err and "internal error" not in err, err


def test_inspect_survives_mislabelled_files_bad_tags_and_manifests(proto: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import soundfile as sf
    from mutagen.flac import FLAC

    wav_as_flac = tmp_path / "w.flac"
    shutil.copy(proto / "out/t.wav", wav_as_flac)
    flac = tmp_path / "t.flac"
    sf.write(flac, np.zeros((4800, 2)), 48_000, format="FLAC")
    tags = FLAC(flac)
    tags["LOOPSTART"], tags["LOOPLENGTH"] = "abc", "-5"
    tags.save()
    (tmp_path / "t.manifest.json").write_text(json.dumps({"events": [{"x": 1}], "backend": "b", "timeline": 3}))
    code, out, err = cli(["inspect", str(wav_as_flac)], capsys)
    assert code == EXIT_OK and "container=WAV" in out.replace(" ", "").replace("│", ""), err
    code, out, err = cli(["inspect", str(flac)], capsys)
    assert code == EXIT_OK and "LOOPSTART 'abc'" in out and "manifest" in out and "job" in out, err
    (tmp_path / "t.manifest.json").write_text("[1, 2]")
    code, out, err = cli(["inspect", str(flac), "--json"], capsys)
    assert code == EXIT_OK and "not a manifest" in json.loads(out)["manifest"]["error"]


def _strict_json(text: str) -> object:
    def refuse(name: str) -> object:
        raise AssertionError(f"{name} in JSON output")
    return json.loads(text, parse_constant=refuse)


def test_inspect_json_never_prints_infinity_or_nan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    silent = _write_wav(tmp_path / "s.wav", 2)
    data = np.zeros((4800, 2), np.float32)
    data[100, 0], data[200, 1] = np.inf, np.nan
    weird = _write_wav(tmp_path / "inf.wav", 2, data)
    for path in (silent, weird):
        code, out, err = cli(["inspect", str(path), "--json"], capsys)
        assert code == EXIT_OK, err
        assert _strict_json(out)["loudness"]["integrated_lufs"] is None  # type: ignore[index]


# ---- 12: one exit-code table, documented and followed


def test_readme_states_the_exit_code_table() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M))
    assert set(rows) == {str(c) for c in (EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED)}
    assert "render failed" in rows["1"] and "--resume" in rows["130"]
    assert all(s in rows["2"] for s in ("missing extra", "a spool exists", "nothing to resume"))


def test_exit_0_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["validate", str(ROOT / "timelines")], capsys)[0] == EXIT_OK


def test_exit_1_a_render_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.yaml").write_text(TINY)
    monkeypatch.setenv("GEMINI_API_KEY", "fake-key-for-tests")
    code, _, err = cli(["render", str(tmp_path / "t.yaml"), "-o", str(tmp_path / "out"), "--backend", "lyria",
                        "--base-url", "https://127.0.0.1:9", "--max-reconnects", "0"], capsys)
    assert code == EXIT_FAILED and "--resume" in err, err


@pytest.mark.parametrize("situation", ["unknown-option", "spool-exists", "nothing-to-resume", "missing-extra"])
def test_exit_2_bad_input_or_usage(case: Path, situation: str, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    argv = {
        "unknown-option": ["render", "--no-such-flag"],
        "spool-exists": render_args(case),
        "nothing-to-resume": render_args(case, "--resume", "--name", "other"),
        "missing-extra": ["serve", "--port", "0", "--state-dir", str(case / "state")],
    }[situation]
    if situation == "missing-extra":  # a fresh import of render.server then meets no websockets
        for name in [n for n in sys.modules if n == "render.server" or n.startswith(("render.server.", "websockets"))]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, "websockets", None)
    code, _, err = cli(argv, capsys)
    assert code == EXIT_USAGE, err
    assert "internal error" not in err and "Traceback" not in err
    if situation == "spool-exists":
        assert "--resume" in err and "--fresh" in err
    if situation == "missing-extra":
        assert "lyria-render[serve]" in err


def test_exit_130_interrupted_keeps_the_spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.yaml").write_text(TINY)

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("render.pipeline.run._produce", interrupt)
    code, _, err = cli(["render", str(tmp_path / "t.yaml"), "-o", str(tmp_path / "out"), "--backend", "offline"], capsys)
    assert code == EXIT_INTERRUPTED and "--resume" in err
    assert (tmp_path / "out" / ".lyria-render/t.spool/meta.json").is_file()


# ---- 13: serve binds what it says; secrets in --base-url are redacted


def test_serve_refuses_an_empty_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(["serve", "--host", "", "--port", "0", "--state-dir", str(tmp_path)], capsys)
    assert code == EXIT_USAGE and "every interface" in err


def test_a_key_in_base_url_is_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.yaml").write_text(TINY)
    monkeypatch.setenv("GEMINI_API_KEY", "envkey-abcdef")
    url = "https://user:SECRET123@127.0.0.1:9/?key=SECRET123&alt=json"
    code, out, err = cli(["render", str(tmp_path / "t.yaml"), "--backend", "lyria", "--base-url", url, "--dry-run"],
                         capsys, quiet=False)
    assert code == EXIT_OK and "backend: lyria" in err and "https://***@127.0.0.1:9/?key=***" in err, err
    assert "SECRET123" not in out + err and "envkey-abcdef" not in out + err


def test_walk_files_skips_fifos(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text(TINY)
    assert [p.name for p in walk_files(tmp_path)] == ["b.yaml"]
    assert stat.S_ISFIFO(os.stat(tmp_path / "a.yaml").st_mode)
