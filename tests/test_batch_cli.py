"""``lyria-render batch`` through the entry point: exact exit codes and messages, reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from batch_utils import write_invalid, write_timeline
from render.cli import main


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
                   "  in/a.yaml and in/c.yaml would both write out/a.json (and its audio): "
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
    assert out == ("missing  in/a.yaml: no manifest out/a.json\n"
                   "missing  in/sub/b.yaml: no manifest out/sub/b.json\n")
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
