"""``lyria-render batch`` through the entry point: exact exit codes and messages, reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers.batch import write_invalid, write_timeline
from helpers.proc import default_sigint

from render.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(["--quiet", *argv] if "--loud" not in argv else [a for a in argv if a != "--loud"])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``in/a.yaml``, ``in/sub/b.yaml`` (valid, 1 s, wav); the working folder is tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    write_timeline(tmp_path / "in" / "a.yaml", duration="1s")
    write_timeline(tmp_path / "in" / "sub" / "b.yaml", duration="1s", seed=2)
    return tmp_path


BATCH = ["batch", "in", "-o", "out", "--backend", "offline", "--jobs", "1"]


def test_valid_invalid_and_duplicate_outputs(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_invalid(tree / "in" / "bad.yaml")
    code, out, err = run(BATCH, capsys)
    assert code == 2, err
    assert (tree / "out" / "a.wav").is_file() and (tree / "out" / "sub" / "b.wav").is_file()
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert rows == {"in/a.yaml": "rendered", "in/bad.yaml": "invalid", "in/sub/b.yaml": "rendered"}
    assert "1 job did not succeed:\n  in/bad.yaml [invalid]: in/bad.yaml:5:10: error: config.brightnes" in err
    (tree / "in" / "bad.yaml").unlink()
    write_timeline(tree / "in" / "c.yaml", name="a", duration="1s")
    code, out, err = run(BATCH, capsys)
    assert code == 2
    assert out == ""
    assert err == ("Error: 1 output problem; nothing was rendered:\n"
                   "  in/a.yaml and in/c.yaml would both write out/a.manifest.json (and its audio): "
                   "give one a different output name, or put them in different folders\n")


def test_skip_then_force(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(BATCH, capsys)[0] == 0
    code, out, _ = run(BATCH, capsys)
    assert code == 0 and [line.split()[1] for line in out.splitlines()[1:]] == ["skipped", "skipped"]
    assert out.splitlines()[0].split() == ["job", "status", "duration", "LUFS", "true", "peak", "wall"]
    code, out, _ = run(BATCH + ["--force"], capsys)
    assert code == 0 and [line.split()[1] for line in out.splitlines()[1:]] == ["rendered", "rendered"]


def test_check_gate_exit_codes(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(BATCH + ["--check"], capsys)
    assert code == 1
    assert out == ("missing  in/a.yaml: no manifest out/a.manifest.json\n"
                   "missing  in/sub/b.yaml: no manifest out/sub/b.manifest.json\n")
    assert not (tree / "out").exists(), "--check renders nothing"
    run(BATCH, capsys)
    (tree / "out" / "old.flac").write_bytes(b"fLaC")
    code, out, _ = run(BATCH + ["--check"], capsys)
    assert (code, out) == (0, "orphaned out/old.flac\n"), "orphans are listed but do not fail the gate"
    write_timeline(tree / "in" / "a.yaml", duration="1s", seed=99)
    code, out, _ = run(BATCH + ["--check"], capsys)
    assert code == 1
    assert out.splitlines()[0] == "stale    in/a.yaml: inputs changed (the job hash differs from the manifest's)"


def test_reports_parse_and_list_every_job(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_invalid(tree / "in" / "bad.yaml")
    run(BATCH + ["--force"], capsys)
    code, out, _ = run(BATCH + ["--report", "rep/report.json", "--junit", "rep/junit.xml", "--json"], capsys)
    assert code == 2
    report = json.loads((tree / "rep" / "report.json").read_text())
    assert json.loads(out) == report, "--json prints the same report to stdout"
    assert {j["id"]: j["status"] for j in report["jobs"]} == {
        "in/a.yaml": "skipped", "in/bad.yaml": "invalid", "in/sub/b.yaml": "skipped"}
    assert report["exit_code"] == 2 and report["counts"] == {"skipped": 2, "invalid": 1}
    assert report["failures"][0]["id"] == "in/bad.yaml"
    a = next(j for j in report["jobs"] if j["id"] == "in/a.yaml")
    assert a["files"][0]["path"] == "out/a.wav" and len(a["files"][0]["sha256"]) == 64
    suite = ET.parse(tree / "rep" / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("skipped") == "2"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"in/a.yaml", "in/bad.yaml", "in/sub/b.yaml"}
    failure = cases["in/bad.yaml"].find("failure")
    assert failure is not None and "brightnes" in (failure.text or "")
    assert cases["in/a.yaml"].find("skipped") is not None
    assert not list((tree / "rep").glob(".*part*")), "reports are written atomically (no temp files left)"


def test_shards_split_the_jobs(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(5):
        write_timeline(tree / "in" / "more" / f"m{i}.yaml", duration="1s", seed=i)
    seen: list[str] = []
    for index in (1, 2, 3):
        code, out, _ = run(BATCH + ["--check", "--json", "--shard", f"{index}/3"], capsys)
        report = json.loads(out)
        assert report["shard"] == f"{index}/3" and report["total_jobs"] == 7
        seen += [j["id"] for j in report["jobs"]]
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 7


@pytest.mark.parametrize("extra, message", [
    (["--shard", "3/2"], "--shard '3/2': I must be between 1 and N"),
    (["--force", "--check"], "--force and --check cannot be used together"),
    (["--loudness", "loud"], "--loudness 'loud': give LUFS like -14, or 'off'"),
])
def test_usage_errors_exit_2(tree: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    code, out, err = run(BATCH + extra, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"Error: {message}")
    assert not (tree / "out").exists()


def test_no_inputs_and_missing_path(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["batch", "-o", "out"], capsys)
    assert code == 2 and err.startswith("Error: no timelines found")
    code, _, err = run(["batch", "nowhere", "-o", "out"], capsys)
    assert code == 2 and err == "Error: nowhere: no such file or folder\n"


def test_progress_lines_and_summary_on_stderr(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(BATCH + ["--loud"], capsys)
    assert code == 0
    assert "2 jobs: 2 to render (2.0 s of audio), 0 up to date" in err
    assert "rendered    in/a.yaml" in err and "render: 2 rendered; exit code 0" in err
    assert "in/a.yaml" in out


def test_ci_example_workflow_commands_run(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The batch commands in docs/examples/lyria-render-ci.yml parse, and the gate runs without a key."""
    import shlex

    from ruamel.yaml import YAML

    workflow = YAML(typ="safe").load((ROOT / "docs" / "examples" / "lyria-render-ci.yml").read_text())
    steps = [s for job in workflow["jobs"].values() for s in job["steps"] if "lyria-render batch" in s.get("run", "")]
    assert len(steps) == 2 and workflow["jobs"]["render"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    render_cmd, check_cmd = (s["run"].replace("${{ matrix.shard }}", "1").replace("$SHARDS", "4")
                             .replace('"$OUT"', "out").replace("timelines/", "in") for s in steps)
    code, out, err = run(shlex.split(check_cmd)[1:], capsys)
    assert code == 1 and out.count("missing") == 2, err
    assert (tree / "reports" / "check.xml").is_file() and (tree / "reports" / "check.json").is_file()
    code, _, err = run(shlex.split(render_cmd)[1:], capsys)  # no key here: refused after parsing every option
    assert code == 2 and "--backend lyria needs an API key" in err


def test_ctrl_c_keeps_finished_jobs_and_spools_then_resumes(tmp_path: Path) -> None:
    """A real SIGINT to the CLI and its worker processes: exit 130, reports written, then resume."""
    import os
    import signal
    import subprocess
    import sys
    import time

    for i in range(4):
        write_timeline(tmp_path / "in" / f"j{i}.yaml", duration="2s" if i == 0 else "60s", seed=i, prompt=["Techno", "Piano"][i % 2])
    argv = [sys.executable, "-m", "render", "--quiet", "batch", "in", "-o", "out", "--backend", "offline",
            "--jobs", "2", "--report", "report.json"]
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=default_sigint)
    def finished_one_and_streaming_another() -> bool:
        spools = (tmp_path / "out" / ".lyria-render").glob("*.spool/*.pcm")
        return bool(list((tmp_path / "out").glob("*.manifest.json"))) and any(p.stat().st_size for p in spools)

    deadline = time.monotonic() + 60
    while not finished_one_and_streaming_another() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    streaming = {p.parent.name.removesuffix(".spool")
                 for p in (tmp_path / "out" / ".lyria-render").glob("*.spool/*.pcm") if p.stat().st_size}
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    report = json.loads((tmp_path / "report.json").read_text())
    statuses = {j["id"]: j["status"] for j in report["jobs"]}
    if proc.returncode == 0:
        pytest.skip("the batch finished before the interrupt landed (machine too fast)")
    assert proc.returncode == 130, err
    assert "Interrupted: finished jobs are kept" in err
    assert "rendered" in statuses.values() and "interrupted" in statuses.values(), statuses
    assert set(statuses.values()) <= {"rendered", "interrupted", "not-run"}
    with_audio = set()
    for job_id, status in statuses.items():
        stem = Path(job_id).stem
        if status == "rendered":
            assert (tmp_path / "out" / f"{stem}.manifest.json").is_file()
        if status == "interrupted":
            spool = tmp_path / "out" / ".lyria-render" / f"{stem}.spool"  # none if stopped while starting
            assert not (tmp_path / "out" / f"{stem}.manifest.json").exists()
            if spool.is_dir() and sum(p.stat().st_size for p in spool.glob("*.pcm")):
                with_audio.add(job_id)
    interrupted_streaming = {i for i, st in statuses.items() if st == "interrupted" and Path(i).stem in streaming}
    if not interrupted_streaming:
        pytest.skip("every job that was streaming finished before the interrupt landed (loaded machine)")
    assert interrupted_streaming <= with_audio, "the jobs streaming when Ctrl-C came kept their spools and audio"
    assert not list((tmp_path / "out").glob(".*.part*")), "no half-written file is left"
    again = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    second = {j["id"]: j["status"] for j in json.loads((tmp_path / "report.json").read_text())["jobs"]}
    assert all(second[i] == "skipped" for i, s in statuses.items() if s == "rendered")
    for job_id, status in statuses.items():
        if status == "interrupted":
            manifest = json.loads((tmp_path / "out" / f"{Path(job_id).stem}.manifest.json").read_text())
            assert second[job_id] == "rendered"
            if job_id in with_audio:
                assert manifest["render"]["resumed"] is True, "a spool with audio is resumed"
