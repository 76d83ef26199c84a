"""``lyria-render batch``: render folders of timelines, skip what is up to date, check for CI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from render.batch.jobs import discover_jobs, parse_shard
from render.batch.render import render_batch
from render.batch.report import format_table, report_json, summary_row, summary_rows, write_junit, write_report
from render.batch.results import BatchEvent, BatchInterrupted, BatchOptions, BatchResult
from render.pipeline.job import RenderOptions

from ..errors import UsageError
from ..files import same_file
from . import console
from .options import (
    ApiKeyFile,
    ApiVersion,
    Backend,
    BaseUrl,
    CaCert,
    ControlInterval,
    Exclude,
    Formats,
    JsonFlag,
    MaxReconnects,
    MaxSessions,
    Model,
    OutDir,
    Png,
    SessionLimit,
    SessionStagger,
    SoundFont,
    StallTimeout,
    Strict,
    env,
    lyria_settings,
)
from .render_cmd import Loudness, parse_formats, parse_loudness

app = typer.Typer()

_CI = "CI"
BatchPaths = Annotated[Optional[list[str]], typer.Argument(help="Timeline files, folders (searched recursively) or globs.", show_default=False)]


class BatchProgress:
    """One overall tqdm bar on stderr (jobs and audio seconds) plus a line per finished job."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.done = self.to_run = self.skipped = 0
        self.seen_s: dict[str, float] = {}
        self.duration_s: dict[str, float] = {}

    def __call__(self, event: BatchEvent) -> None:
        if event.kind == "planned":
            self._planned(*event.value)
        elif event.kind == "audio":
            self._advance(event.job_id, float(event.value))
        elif event.kind == "retry":
            self._line(f"retry   {event.job_id}: {event.value}")
        elif event.kind == "done" and event.report is not None:
            self._done(event)

    def _planned(self, to_run: int, audio_s: float, total: int) -> None:
        self.to_run = to_run
        self._line(f"{total} job{'s' if total != 1 else ''}: {to_run} to render ({audio_s:.1f} s of audio), "
                   f"{self.skipped} up to date")
        if self.quiet or not to_run:
            return
        from .progress import make_bar

        self.bar = make_bar(audio_s, f"jobs 0/{to_run}")

    def _advance(self, job_id: str, seconds: float) -> None:
        before = self.seen_s.get(job_id, 0.0)
        limit = self.duration_s.get(job_id)
        seconds = min(seconds, limit) if limit is not None else seconds
        if self.bar is not None and seconds > before:
            from .progress import advance

            advance(self.bar, round(seconds - before, 3))
        self.seen_s[job_id] = max(before, seconds)

    def _done(self, event: BatchEvent) -> None:
        report = event.report
        assert report is not None
        if report.status in ("skipped", "current"):
            self.skipped += 1
            return
        if report.status in ("rendered", "failed", "interrupted") and report.duration_s:
            self.duration_s[report.id] = report.duration_s
            self._advance(report.id, report.duration_s)
        if report.status != "invalid":
            self.done += 1
        if self.bar is not None:
            self.bar.set_description_str(f"jobs {self.done}/{self.to_run}")
        cells = _cells(report)
        self._line(f"{report.status:<11} {report.id}  " + "  ".join(cells)
                   + (f"  ({report.reason.splitlines()[0]})" if report.status not in ("rendered",) and report.reason else ""))

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            console.info(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _cells(report: Any) -> list[str]:
    duration, lufs, peak, wall = summary_row(report)[2:]
    cells = [duration, f"{lufs} LUFS" if lufs != "-" else "-", peak, f"wall {wall}" if wall != "-" else "-"]
    return [c for c in cells if c != "-"]


@app.command("batch")
def batch(
    ctx: typer.Context,
    paths: BatchPaths = None,
    out: OutDir = Path("out"),
    jobs_file: Annotated[Optional[Path], typer.Option("--jobs-file", help="YAML/JSON list of {timeline, formats, loudness, seed, name}; paths relative to it.", dir_okay=False)] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Offline worker processes (default: the number of cores).", **env("JOBS"))] = None,
    backend: Backend = "auto",
    formats: Formats = None,
    stems: Annotated[Optional[list[str]], typer.Option("--stems", help="Also write stems: drums, bass, other (repeat or comma-separate).")] = None,
    loudness: Loudness = None,
    force: Annotated[bool, typer.Option("--force", help="Re-render jobs that are up to date.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Render nothing: list stale, missing and orphaned outputs; exit 1 if any are stale or missing.", rich_help_panel=_CI)] = False,
    shard: Annotated[Optional[str], typer.Option("--shard", metavar="I/N", help="Only the I-th of N disjoint parts (by a hash of each job's path).", rich_help_panel=_CI)] = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write a report here: HTML (pictures, players) when it ends in .html, else JSON.", rich_help_panel=_CI)] = None,
    png: Png = False,
    exclude: Exclude = None,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Write JUnit XML here (one test case per job).", rich_help_panel=_CI)] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Start no new job after the first failure.")] = False,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Retries after a transient backend error (each resumes the job's spool).")] = 2,
    control_interval: ControlInterval = None,
    soundfont: SoundFont = None,
    api_key_file: ApiKeyFile = None,
    model: Model = "models/lyria-realtime-exp",
    api_version: ApiVersion = "v1alpha",
    base_url: BaseUrl = None,
    ca_cert: CaCert = None,
    session_limit: SessionLimit = 540.0,
    stall_timeout: StallTimeout = 20.0,
    max_reconnects: MaxReconnects = 5,
    strict: Strict = False,
    session_stagger: SessionStagger = 45.0,
    max_sessions: MaxSessions = 4,
    as_json: JsonFlag = False,
    cluster: Annotated[Optional[str], typer.Option("--cluster", envvar="LYRIA_RENDER_CLUSTER", metavar="ADDRESS", help="Run the jobs on a Dask cluster: tcp://HOST:8786, or local:N worker processes here (needs lyria-render[cluster]; OUT must be shared with the workers).")] = None,
) -> None:
    """Render every timeline under PATHS into OUTDIR, skipping jobs that are up to date.

    Outputs mirror the input folders (ROOT/a/b.yaml -> OUTDIR/a/NAME.*). Exit codes:
    0 all rendered or skipped (--check: all current), 1 a job failed (--check: stale or
    missing outputs), 2 invalid input (bad options, clashing or escaping outputs, or an
    invalid timeline: the other jobs still render), 130 interrupted.

    \b
    Example:
      lyria-render batch timelines/ -o out/ --jobs 2
      lyria-render batch timelines/ -o out/ --check --backend lyria   # CI gate: exit 1 if stale
      lyria-render batch 'music/**/*.yaml' -o assets/ --shard 2/4 --junit junit.xml
      lyria-render batch --jobs-file jobs.yaml -o out/ --report report.json
      lyria-render batch timelines/ -o /shared/out/ --cluster tcp://scheduler:8786
      lyria-render batch timelines/ -o out/ --soundfont ~/banks/FluidR3_GM.sf2   # GM voices offline
    """
    quiet = bool((ctx.obj or {}).get("quiet"))
    if force and check:
        raise UsageError("--force and --check cannot be used together (--check renders nothing)")
    options = BatchOptions(
        render=RenderOptions(
            backend=backend, lyria=lyria_settings(api_key_file, model, api_version, base_url, ca_cert),  # type: ignore[arg-type]
            formats=parse_formats(formats), loudness_lufs=parse_loudness(loudness), strict=strict,
            stems=parse_formats(stems),
            control_interval_s=control_interval, session_limit_s=session_limit, stall_timeout_s=stall_timeout,
            max_reconnects=max_reconnects, soundfont=soundfont,
        ),
        jobs_file=jobs_file, exclude=tuple(exclude or ()), jobs=jobs, force=force, check=check, shard=parse_shard(shard) if shard else None,
        fail_fast=fail_fast, retries=retries, max_sessions=max_sessions, session_stagger_s=session_stagger,
        cluster=cluster or None,
    )
    _check_report_paths(paths or [], out, jobs_file, {"--report": report, "--junit": junit})
    if png:
        from render.export.picture import require_plot

        require_plot()  # before rendering: a missing [plot] extra is exit 2 at once
    _notes(paths or [], out, jobs_file, tuple(exclude or ()), quiet)
    sink = BatchProgress(quiet=quiet)
    interrupted = False
    try:
        result = render_batch(paths or [], out, options, progress=sink)
    except BatchInterrupted as exc:
        result, interrupted = exc.result, True
    finally:
        sink.close()
    if png:
        _pictures(result, quiet)
    if report is not None and report.suffix.lower() in (".html", ".htm"):
        from render.batch.html import write_html_report

        write_html_report(result, report)
    elif report is not None:
        write_report(result, report)
    if junit is not None:
        write_junit(result, junit)
    _print(result, as_json, quiet)
    if interrupted:
        console.error("Interrupted: finished jobs are kept; running ones keep their spools (run again to continue).")
    raise typer.Exit(result.exit_code)


def _check_report_paths(paths: list[str], out: Path, jobs_file: Path | None, targets: dict[str, Path | None]) -> None:
    """Refuse, before rendering, a report path that is a folder or would replace an input file."""
    given = {flag: path for flag, path in targets.items() if path is not None}
    for flag, path in given.items():
        if path.is_dir():
            raise UsageError(f"{flag} {path}: is a folder", hint="give a file path for the report")
    if not given:
        return
    inputs = [job.timeline for job in discover_jobs(paths, out, jobs_file=jobs_file)]
    for flag, path in given.items():
        for src in inputs + ([jobs_file] if jobs_file else []):
            if same_file(path, src):
                raise UsageError(f"{flag} {path} is the input file {src}; the report would overwrite it",
                                 hint="write the report elsewhere")


def _notes(paths: list[str], out: Path, jobs_file: Path | None, exclude: tuple[str, ...], quiet: bool) -> None:
    """Say which files found in folders were skipped as not timelines (or ignored)."""
    if quiet or not paths:
        return
    notes: list[str] = []
    try:
        discover_jobs(paths, out, jobs_file=jobs_file, exclude=exclude, notes=notes)
    except UsageError:
        return  # the batch itself reports it
    for line in notes:
        console.info(f"note: {line}")


def _pictures(result: BatchResult, quiet: bool) -> None:
    """NAME.png beside each rendered job's first output."""
    from render.export.inspect import write_picture

    for job in result.jobs:
        if job.status == "rendered" and job.files:
            path = Path(job.files[0][1])
            write_picture(path, path.with_suffix(".png"))
    console.info("pictures drawn beside the outputs", quiet=quiet)


def _warnings(result: BatchResult, quiet: bool) -> None:
    from render.batch.html import job_warnings

    for job in result.jobs:
        if job.status == "rendered":
            for line in job_warnings(job):
                console.info(f"warning {job.id}: {line}", quiet=quiet)


def _print(result: BatchResult, as_json: bool, quiet: bool) -> None:
    if as_json:
        console.result(report_json(result).rstrip("\n"))
    elif result.mode == "check":
        for job in result.jobs:
            if job.status != "current":
                console.result(f"{job.status:<8} {job.id}: {job.reason.splitlines()[0] if job.reason else ''}")
        for path in result.orphans:
            console.result(f"orphaned {path.as_posix()}")
    else:
        console.result(format_table(summary_rows(result)))
        _warnings(result, quiet)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items()))
    orphans = f", {len(result.orphans)} orphaned" if result.mode == "check" else ""
    console.info(f"{result.mode}: {counts or 'no jobs'}{orphans}; exit code {result.exit_code}", quiet=quiet)
    failures = result.failures
    if failures and result.mode == "render":
        console.error(f"{len(failures)} job{'s' if len(failures) != 1 else ''} did not succeed:")
        for job in failures:
            console.error(f"  {job.id} [{job.status}]: {job.reason}")
