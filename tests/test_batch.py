"""Batch library: discovery, jobs files, shards, escapes, clashes, skip/force, check,
concurrency, retries, fail-fast, Ctrl-C and the session gate."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

import pytest
from helpers.batch import (
    always_transient,
    calls,
    fail_on_b,
    flaky_render,
    interrupt_on_b,
    write_invalid,
    write_timeline,
)

from render.batch.jobs import discover_jobs, parse_shard, select_shard, shard_of
from render.batch.render import render_batch
from render.batch.results import BatchInterrupted, BatchOptions
from render.batch.worker import JobStopped, SessionGate
from render.errors import BatchError, UsageError
from render.files import glob_root
from render.pipeline.job import RenderOptions

OFFLINE = RenderOptions(backend="offline")


def opts(**kw) -> BatchOptions:
    kw.setdefault("jobs", 1)
    kw.setdefault("retry_backoff_s", 0.0)
    return BatchOptions(render=OFFLINE, **kw)


def by_id(result) -> dict[str, str]:
    return {Path(j.timeline).name: j.status for j in result.jobs}


# ------------------------------------------------------------------ discovery and shards
def test_discovery_mirrors_folders_for_folders_globs_and_files(tmp_path: Path) -> None:
    root = tmp_path / "music"
    for rel in ("a.yaml", "x/b.yml", "x/y/c.json", ".hidden/d.yaml", "notes.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text('{"duration": 1, "prompts": {"Piano": 1}}')  # top-level keys make a timeline
    out = tmp_path / "out"
    jobs = discover_jobs([root], out)
    assert [(j.timeline.name, j.rel_dir.as_posix()) for j in jobs] == [("a.yaml", "."), ("b.yml", "x"), ("c.json", "x/y")]
    assert jobs[2].out_dir == out / "x" / "y"
    globbed = discover_jobs([str(root) + "/**/*.y*ml"], out)
    assert {(j.timeline.name, j.rel_dir.as_posix()) for j in globbed} == {("a.yaml", "."), ("b.yml", "x")}
    single = discover_jobs([root / "x" / "y" / "c.json", root], out)  # the first mention wins, no duplicate
    assert [(j.timeline.name, j.rel_dir.as_posix()) for j in single] == [("c.json", "."), ("a.yaml", "."), ("b.yml", "x")]
    assert glob_root("timelines/**/*.yaml") == Path("timelines")


def test_outdir_inside_an_input_folder_is_not_searched(tmp_path: Path) -> None:
    write_timeline(tmp_path / "in" / "a.yaml")
    first = render_batch([tmp_path / "in"], tmp_path / "in" / "out", opts())
    assert (tmp_path / "in" / "out" / "a.manifest.json").is_file() and first.exit_code == 0
    again = render_batch([tmp_path / "in"], tmp_path / "in" / "out", opts())
    assert by_id(again) == {"a.yaml": "skipped"}, "the manifest a.manifest.json must not become a job"


def test_discovery_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or folder"):
        discover_jobs([tmp_path / "nope"], tmp_path / "out")
    with pytest.raises(UsageError, match="matches no timeline files"):
        discover_jobs([str(tmp_path / "*.yaml")], tmp_path / "out")
    with pytest.raises(UsageError, match="no timelines found"):
        discover_jobs([], tmp_path / "out")


def test_jobs_file_overrides_and_errors(tmp_path: Path) -> None:
    write_timeline(tmp_path / "songs" / "intro.yaml")
    jf = tmp_path / "jobs.yaml"
    jf.write_text("jobs:\n  - {timeline: songs/intro.yaml, formats: [wav, flac], loudness: -16, seed: 3, name: intro_v2}\n"
                  "  - {timeline: songs/intro.yaml, loudness: off}\n")
    jobs = discover_jobs([], tmp_path / "out", jobs_file=jf)
    assert [j.id.rsplit("/", 1)[-1] for j in jobs] == ["intro.yaml#intro_v2", "intro.yaml"]
    first = jobs[0].overrides
    assert (first.formats, first.loudness_lufs, first.seed, first.name) == (("wav", "flac"), -16.0, 3, "intro_v2")
    assert jobs[1].overrides.loudness_lufs is None and jobs[0].rel_dir.as_posix() == "songs"
    jf.write_text("- {timeline: songs/intro.yaml, formt: [wav]}\n")
    with pytest.raises(BatchError, match=r"jobs\[0\]: unknown key 'formt'"):
        discover_jobs([], tmp_path / "out", jobs_file=jf)
    jf.write_text("- {timeline: songs/intro.yaml, seed: many}\n")
    with pytest.raises(BatchError, match=r"jobs\[0\]\.seed: 'many'"):
        discover_jobs([], tmp_path / "out", jobs_file=jf)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_shards_are_disjoint_and_complete(tmp_path: Path, count: int) -> None:
    for i in range(13):
        (tmp_path / "t" / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "t" / f"d{i % 3}" / f"job{i}.timeline.yaml").write_text("{}")  # named as timelines
    jobs = discover_jobs([tmp_path / "t"], tmp_path / "out")
    parts = [select_shard(jobs, (i, count)) for i in range(1, count + 1)]
    ids = [j.id for part in parts for j in part]
    assert len(ids) == len(set(ids)) == 13, "a job is in two shards or in none"
    assert set(ids) == {j.id for j in jobs}
    # stable under adding jobs: every old job keeps its shard
    (tmp_path / "t" / "new.timeline.yaml").write_text("{}")
    more = discover_jobs([tmp_path / "t"], tmp_path / "out")
    assert all(shard_of(j.id, count) == next(i for i, p in enumerate(parts, 1) if j in p) for j in jobs)
    assert len(more) == 14


def test_parse_shard() -> None:
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/3", "4/3", "a/b", "3", "1/0"):
        with pytest.raises(UsageError, match="--shard"):
            parse_shard(bad)


# ------------------------------------------------------------------ escapes and clashes (nothing renders)
def _escape_case(tmp_path: Path, kind: str) -> tuple[list, BatchOptions]:
    if kind == "symlink":
        write_timeline(tmp_path / "in" / "sub" / "a.yaml")
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        (tmp_path / "out").mkdir()
        os.symlink(outside, tmp_path / "out" / "sub")
        return [tmp_path / "in"], opts()
    write_timeline(tmp_path / "in" / "a.yaml")
    jf = tmp_path / "in" / "jobs.yaml"
    if kind == "outside":
        write_timeline(tmp_path / "other" / "b.yaml")
        jf.write_text("- ../other/b.yaml\n")
    else:
        name = {"dotdot": "../evil", "absolute": str(tmp_path / "abs")}[kind]
        jf.write_text(json.dumps([{"timeline": "a.yaml", "name": name}]))
    return [], opts(jobs_file=jf)


@pytest.mark.parametrize("kind, message", [
    ("dotdot", "output name '../evil' contains a path separator"),
    ("absolute", "is an absolute path"),
    ("outside", "lies outside the jobs file's folder"),
    ("symlink", "a symbolic link leads out"),
])
def test_path_escapes_are_refused_before_rendering(tmp_path: Path, kind: str, message: str) -> None:
    paths, options = _escape_case(tmp_path, kind)
    with pytest.raises(BatchError, match="nothing was rendered") as info:
        render_batch(paths, tmp_path / "out", options)
    assert message in str(info.value)
    assert info.value.exit_code == 2
    rendered = [p for p in tmp_path.rglob("*") if p.suffix == ".wav"]
    assert rendered == []


def test_two_jobs_writing_the_same_output_are_refused(tmp_path: Path) -> None:
    write_timeline(tmp_path / "in" / "a.yaml", name="theme")
    write_timeline(tmp_path / "in" / "b.yaml", name="theme", seed=2)
    write_timeline(tmp_path / "in" / "c.yaml")
    with pytest.raises(BatchError) as info:
        render_batch([tmp_path / "in"], tmp_path / "out", opts())
    text = str(info.value)
    assert "in/a.yaml and " in text and "in/b.yaml would both write" in text and "theme.manifest.json" in text
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.wav"))


# ------------------------------------------------------------------ rendering, skip, force, check
def test_skip_then_force_and_invalid_timelines(tmp_path: Path) -> None:
    write_timeline(tmp_path / "in" / "a.yaml")
    write_timeline(tmp_path / "in" / "sub" / "b.yaml", seed=5)
    write_invalid(tmp_path / "in" / "bad.yaml")
    out = tmp_path / "out"
    first = render_batch([tmp_path / "in"], out, opts())
    assert by_id(first) == {"a.yaml": "rendered", "b.yaml": "rendered", "bad.yaml": "invalid"}
    assert first.exit_code == 2, "an invalid timeline is invalid input even though the others rendered"
    bad = next(j for j in first.jobs if j.status == "invalid")
    assert "bad.yaml:5" in bad.reason and "brightnes" in bad.reason
    assert (out / "a.wav").is_file() and (out / "sub" / "b.wav").is_file() and (out / "sub" / "b.manifest.json").is_file()
    stamp = (out / "a.wav").stat().st_mtime_ns
    (tmp_path / "in" / "bad.yaml").unlink()
    again = render_batch([tmp_path / "in"], out, opts())
    assert by_id(again) == {"a.yaml": "skipped", "b.yaml": "skipped"} and again.exit_code == 0
    assert (out / "a.wav").stat().st_mtime_ns == stamp, "a skipped job must not rewrite its files"
    assert again.jobs[0].loudness_lufs is not None and again.jobs[0].files
    forced = render_batch([tmp_path / "in"], out, opts(force=True))
    assert by_id(forced) == {"a.yaml": "rendered", "b.yaml": "rendered"} and forced.exit_code == 0
    assert (out / "a.wav").stat().st_mtime_ns != stamp


def test_check_current_stale_missing_corrupted_and_orphans(tmp_path: Path) -> None:
    src = tmp_path / "in"
    for name, seed in (("current", 1), ("edited", 2), ("missing", 3), ("corrupt", 4)):
        write_timeline(src / f"{name}.yaml", seed=seed)
    out = tmp_path / "out"
    assert render_batch([src], out, opts()).exit_code == 0
    ok = render_batch([src], out, opts(check=True))
    assert set(by_id(ok).values()) == {"current"} and ok.exit_code == 0 and ok.orphans == ()
    write_timeline(src / "edited.yaml", seed=22)
    (out / "missing.wav").unlink()
    with open(out / "corrupt.wav", "r+b") as f:
        f.seek(2000)
        f.write(b"\x01\x02\x03")
    (out / "old.wav").write_bytes(b"RIFF")
    (out / "gone.manifest.json").write_text(json.dumps({"manifest_version": 1, "job_hash": "x", "files": []}))
    (out / "report.json").write_text("{}")  # not a manifest: not an orphan
    result = render_batch([src], out, opts(check=True))
    assert by_id(result) == {"current.yaml": "current", "edited.yaml": "stale", "missing.yaml": "missing",
                             "corrupt.yaml": "stale"}
    reasons = {Path(j.timeline).stem: j.reason for j in result.jobs}
    assert "job hash differs" in reasons["edited"] and "corrupted" in reasons["corrupt"]
    assert "missing.wav is missing" in reasons["missing"]
    assert sorted(p.name for p in result.orphans) == ["gone.manifest.json", "old.wav"]
    assert result.exit_code == 1
    assert not (out / "missing.wav").exists(), "--check renders nothing"
    fixed = render_batch([src], out, opts())
    assert by_id(fixed) == {"current.yaml": "skipped", "edited.yaml": "rendered", "missing.yaml": "rendered",
                            "corrupt.yaml": "rendered"}


def test_check_needs_no_api_key_for_lyria(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    write_timeline(tmp_path / "in" / "a.yaml")
    result = render_batch([tmp_path / "in"], tmp_path / "out",
                          BatchOptions(render=RenderOptions(backend="lyria"), check=True))
    assert by_id(result) == {"a.yaml": "missing"} and result.backend == "lyria"
    with pytest.raises(UsageError, match="needs an API key"):
        render_batch([tmp_path / "in"], tmp_path / "out", BatchOptions(render=RenderOptions(backend="lyria")))


def test_jobs_file_overrides_reach_the_render(tmp_path: Path) -> None:
    write_timeline(tmp_path / "songs" / "intro.yaml", formats=("wav", "mp3"))
    jf = tmp_path / "jobs.yaml"
    jf.write_text("- {timeline: songs/intro.yaml, formats: [flac], loudness: -20, seed: 9, name: intro_v2}\n")
    result = render_batch([], tmp_path / "out", opts(jobs_file=jf))
    assert result.exit_code == 0, result.jobs
    folder = tmp_path / "out" / "songs"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["intro_v2.flac", "intro_v2.manifest.json"]
    manifest = json.loads((folder / "intro_v2.manifest.json").read_text())
    assert manifest["seed"] == 9 and manifest["overrides"]["loudness_lufs"] == -20
    assert abs(result.jobs[0].loudness_lufs - -20) < 1.0


def test_parallel_gives_the_same_bytes_as_serial(tmp_path: Path) -> None:
    for i in range(4):
        write_timeline(tmp_path / "in" / f"d{i % 2}" / f"t{i}.yaml", seed=10 + i, prompt=["Piano", "Techno"][i % 2])
    serial = render_batch([tmp_path / "in"], tmp_path / "serial", opts(jobs=1))
    parallel = render_batch([tmp_path / "in"], tmp_path / "parallel", opts(jobs=2))
    assert serial.exit_code == parallel.exit_code == 0
    assert [j.status for j in parallel.jobs] == ["rendered"] * 4
    wavs = sorted(p.relative_to(tmp_path / "serial") for p in (tmp_path / "serial").rglob("*.wav"))
    assert len(wavs) == 4
    for rel in wavs:
        assert (tmp_path / "serial" / rel).read_bytes() == (tmp_path / "parallel" / rel).read_bytes(), rel


# ------------------------------------------------------------------ failures: retries, fail-fast, Ctrl-C
def test_transient_failure_is_retried_and_resumes_the_spool(tmp_path: Path) -> None:
    write_timeline(tmp_path / "in" / "a.yaml")
    result = render_batch([tmp_path / "in"], tmp_path / "out", opts(render_fn=flaky_render, retries=2))
    assert by_id(result) == {"a.yaml": "rendered"} and result.jobs[0].attempts == 2
    log = calls(tmp_path / "out")
    assert [c["resume"] for c in log] == [False, True], "the retry must resume the spool the failure left"


def test_retries_run_out_and_the_failure_is_listed(tmp_path: Path) -> None:
    write_timeline(tmp_path / "in" / "a.yaml")
    result = render_batch([tmp_path / "in"], tmp_path / "out", opts(render_fn=always_transient, retries=2))
    job = result.jobs[0]
    assert job.status == "failed" and job.attempts == 3 and len(calls(tmp_path / "out")) == 3
    assert "TransientBackendError: server closed with 1011 (test) (after 3 attempts)" == job.reason
    assert result.exit_code == 1 and result.failures == (job,)


@pytest.mark.parametrize("fail_fast", [False, True])
def test_a_failed_job_does_not_stop_the_others_unless_fail_fast(tmp_path: Path, fail_fast: bool) -> None:
    for name in ("a", "b", "c", "d"):
        write_timeline(tmp_path / "in" / f"{name}.yaml", seed=ord(name))
    result = render_batch([tmp_path / "in"], tmp_path / "out", opts(render_fn=fail_on_b, fail_fast=fail_fast))
    expected = {"a.yaml": "rendered", "b.yaml": "failed"}
    expected.update({"c.yaml": "not-run", "d.yaml": "not-run"} if fail_fast else {"c.yaml": "rendered", "d.yaml": "rendered"})
    assert by_id(result) == expected
    assert result.exit_code == 1
    assert len(calls(tmp_path / "out")) == (2 if fail_fast else 4)
    assert "generator exploded (test)" in result.failures[0].reason


def test_fail_fast_with_an_invalid_timeline_renders_nothing(tmp_path: Path) -> None:
    write_timeline(tmp_path / "in" / "a.yaml")
    write_invalid(tmp_path / "in" / "bad.yaml")
    result = render_batch([tmp_path / "in"], tmp_path / "out", opts(fail_fast=True))
    assert by_id(result) == {"a.yaml": "not-run", "bad.yaml": "invalid"} and result.exit_code == 2
    assert not list(tmp_path.rglob("*.wav"))


def test_ctrl_c_keeps_finished_jobs_and_stops(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write_timeline(tmp_path / "in" / f"{name}.yaml", seed=ord(name))
    with pytest.raises(BatchInterrupted) as info:
        render_batch([tmp_path / "in"], tmp_path / "out", opts(render_fn=interrupt_on_b))
    result = info.value.result
    assert by_id(result) == {"a.yaml": "rendered", "b.yaml": "interrupted", "c.yaml": "not-run"}
    assert result.exit_code == 130 == info.value.exit_code
    assert (tmp_path / "out" / "a.wav").is_file() and not (tmp_path / "out" / "c.wav").exists()


# ------------------------------------------------------------------ the session gate
def test_session_gate_caps_and_staggers_across_threads() -> None:
    gate = SessionGate(2, 0.05)
    active, peak, lock = [0], [0], threading.Lock()

    def session() -> None:
        async def body() -> None:
            await gate.acquire()
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            await asyncio.sleep(0.12)
            with lock:
                active[0] -= 1
            gate.release()

        asyncio.run(body())

    threads = [threading.Thread(target=session) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 2, "never more than max_sessions open"
    starts = sorted(gate.starts)
    assert len(starts) == 5
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.05 - 1e-3, starts
    assert gate.open_sessions == 0


def test_session_gate_gives_up_when_the_batch_stops() -> None:
    stop = threading.Event()
    gate = SessionGate(1, 0.0, stop=stop)
    assert gate.try_acquire() == 0.0
    stop.set()
    with pytest.raises(JobStopped):
        asyncio.run(gate.acquire())


# ------------------------------------------------------------------ Lyria: threads under one gate, against `serve`
def test_lyria_jobs_share_the_gate_and_retry_a_dropped_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.lyria import API_KEY, serving

    from render.backends import LyriaSettings
    from render.server import FaultPlan

    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    for name in ("a", "b", "c"):
        write_timeline(tmp_path / "in" / f"{name}.yaml", duration="1s", seed=ord(name))
    drop_first = FaultPlan(drop_after_chunks=2, only_connections=[1])
    with serving(drop_first) as server:
        render = RenderOptions(backend="lyria", max_reconnects=0, stall_timeout_s=5.0,
                               lyria=LyriaSettings(base_url=server.base_url, ca_cert=server.ca_cert))
        options = BatchOptions(render=render, max_sessions=2, session_stagger_s=0.05, retries=1, retry_backoff_s=0.0)
        result = render_batch([tmp_path / "in"], tmp_path / "out", options)
    assert result.backend == "lyria"
    assert by_id(result) == {"a.yaml": "rendered", "b.yaml": "rendered", "c.yaml": "rendered"}, result.jobs
    assert sorted(j.attempts for j in result.jobs) == [1, 1, 2], "the job on the dropped connection retried once"
    manifests = [json.loads((tmp_path / "out" / f"{n}.manifest.json").read_text()) for n in "abc"]
    assert all(m["backend"]["name"] == "lyria" for m in manifests)
    again = render_batch([tmp_path / "in"], tmp_path / "out", BatchOptions(render=render, check=True))
    assert set(by_id(again).values()) == {"current"}


def test_lyria_ctrl_c_stops_running_sessions_and_keeps_spools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.lyria import API_KEY, serving

    from render.backends import LyriaSettings

    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    for name in ("a", "b", "c"):
        write_timeline(tmp_path / "in" / f"{name}.yaml", duration="30s", seed=ord(name))
    seen: list[str] = []

    def ctrl_c_on_audio(event) -> None:  # progress is delivered on the calling thread, like a real Ctrl-C
        if event.kind == "audio" and not seen:
            seen.append(event.job_id)
            raise KeyboardInterrupt

    with serving(pace="realtime") as server:
        render = RenderOptions(backend="lyria", lyria=LyriaSettings(base_url=server.base_url, ca_cert=server.ca_cert))
        options = BatchOptions(render=render, max_sessions=2, session_stagger_s=0.0)
        with pytest.raises(BatchInterrupted) as info:
            render_batch([tmp_path / "in"], tmp_path / "out", options, progress=ctrl_c_on_audio)
    statuses = by_id(info.value.result)
    assert seen and statuses[Path(seen[0]).name] == "interrupted", statuses
    assert set(statuses.values()) <= {"interrupted", "not-run"}
    for name, status in statuses.items():
        spool = tmp_path / "out" / ".lyria-render" / f"{Path(name).stem}.spool"
        assert spool.is_dir() == (status == "interrupted"), (name, status)
    assert not list((tmp_path / "out").glob("*.wav"))


def test_workers_limit_openblas_to_one_thread() -> None:
    """Worker processes set every loaded OpenBLAS to one thread (a subprocess: it is process-wide)."""
    import subprocess
    import sys

    code = ("import ctypes, numpy\nfrom render.batch.worker import limit_blas_threads\n"
            "n = limit_blas_threads(1)\n"
            "libs = {l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l.lower() and '.so' in l}\n"
            "got = [getattr(ctypes.CDLL(p), s)() for p in libs for s in ('scipy_openblas_get_num_threads64_',"
            " 'scipy_openblas_get_num_threads', 'openblas_get_num_threads') if hasattr(ctypes.CDLL(p), s)]\n"
            "import json; print(json.dumps([n, got]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    limited, threads = json.loads(out.stdout)
    assert limited >= 1 and set(threads) == {1}, out.stdout


def test_bad_per_job_override_is_an_invalid_job(tmp_path: Path) -> None:
    write_timeline(tmp_path / "songs" / "a.yaml")
    write_timeline(tmp_path / "songs" / "b.yaml", seed=2)
    jf = tmp_path / "jobs.yaml"
    jf.write_text("- {timeline: songs/a.yaml, loudness: -60}\n- songs/b.yaml\n")
    result = render_batch([], tmp_path / "out", opts(jobs_file=jf))
    assert by_id(result) == {"a.yaml": "invalid", "b.yaml": "rendered"} and result.exit_code == 2
    assert "must be between -40 and -5 LUFS" in result.jobs[0].reason
