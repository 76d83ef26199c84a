"""Batch reports: a JSON document, JUnit XML (one test case per job) and a summary table.

Files are written atomically (temp file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from render.version import __version__

from .results import BatchResult, JobReport

__all__ = ["REPORT_VERSION", "report_dict", "report_json", "write_report", "junit_xml", "write_junit",
           "summary_rows", "summary_row", "format_table", "SUMMARY_HEADER"]

REPORT_VERSION = 1
SUMMARY_HEADER = ("job", "status", "duration", "LUFS", "true peak", "wall")
_FAILURE_STATES = {"failed", "invalid", "interrupted", "stale", "missing"}


def _job_dict(job: JobReport) -> dict[str, Any]:
    return {
        "id": job.id, "timeline": job.timeline, "name": job.name, "out_dir": job.out_dir,
        "status": job.status, "reason": job.reason, "attempts": job.attempts,
        "duration_s": job.duration_s, "loudness_lufs": job.loudness_lufs, "true_peak_dbtp": job.true_peak_dbtp,
        "wall_s": round(job.wall_s, 4), "manifest": job.manifest_path, "job_hash": job.job_hash,
        "files": [{"format": f, "path": p, "sha256": s} for f, p, s in job.files],
    }


def report_dict(result: BatchResult) -> dict[str, Any]:
    """The JSON report: tool, mode, shard, counts, exit code, every job, orphans and failures."""
    return {
        "report_version": REPORT_VERSION,
        "tool": f"lyria-render {__version__}",
        "mode": result.mode,
        "out_dir": result.out_dir.as_posix(),
        "backend": result.backend,
        "shard": f"{result.shard[0]}/{result.shard[1]}" if result.shard else None,
        "total_jobs": result.total_jobs,
        "counts": result.counts,
        "exit_code": result.exit_code,
        "interrupted": result.interrupted,
        "wall_s": round(result.wall_s, 4),
        "jobs": [_job_dict(j) for j in result.jobs],
        "orphans": [p.as_posix() for p in result.orphans],
        "failures": [{"id": j.id, "status": j.status, "reason": j.reason} for j in result.failures],
    }


def report_json(result: BatchResult) -> str:
    return json.dumps(report_dict(result), indent=2) + "\n"


def write_report(result: BatchResult, path: str | Path) -> None:
    """Write the JSON report atomically."""
    from render.files import atomic_write_text

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(path), report_json(result))


def junit_xml(result: BatchResult) -> str:
    """JUnit XML: one ``testcase`` per job; failures as ``<failure>``, skips as ``<skipped>``."""
    cases = []
    failures = skipped = 0
    for job in result.jobs:
        case = ET.Element("testcase", classname=f"lyria-render.{result.mode}", name=job.id,
                          time=f"{job.wall_s:.3f}", file=job.timeline)
        if job.status in _FAILURE_STATES:
            failures += 1
            node = ET.SubElement(case, "failure", message=f"{job.status}: {job.reason.splitlines()[0] if job.reason else ''}",
                                 type=job.status)
            node.text = job.reason
        elif job.status in ("skipped", "not-run"):
            skipped += 1
            ET.SubElement(case, "skipped", message=job.reason or job.status)
        out = ET.SubElement(case, "system-out")
        out.text = _case_text(job)
        cases.append(case)
    suites = ET.Element("testsuites", name="lyria-render", tests=str(len(cases)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name=f"lyria-render {result.mode}" + (
        f" shard {result.shard[0]}/{result.shard[1]}" if result.shard else ""),
        tests=str(len(cases)), failures=str(failures), errors="0", skipped=str(skipped),
        time=f"{result.wall_s:.3f}")
    suite.extend(cases)
    if result.orphans:
        props = ET.SubElement(suite, "system-out")
        props.text = "orphaned outputs:\n" + "\n".join(p.as_posix() for p in result.orphans)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _case_text(job: JobReport) -> str:
    row = dict(zip(SUMMARY_HEADER, summary_row(job)))
    return ", ".join(f"{k}: {v}" for k, v in row.items()) + (f"\nreason: {job.reason}" if job.reason else "")


def write_junit(result: BatchResult, path: str | Path) -> None:
    """Write the JUnit XML report atomically."""
    from render.files import atomic_write_text

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(path), junit_xml(result))


def summary_row(job: JobReport) -> tuple[str, ...]:
    """job, status, duration, LUFS, true peak, wall time (``-`` where unknown)."""
    dur = f"{job.duration_s:.2f} s" if job.duration_s is not None else "-"
    lufs = f"{job.loudness_lufs:.1f}" if job.loudness_lufs is not None else "-"
    peak = f"{job.true_peak_dbtp:.2f} dBTP" if job.true_peak_dbtp is not None else "-"
    wall = f"{job.wall_s:.2f} s" if job.wall_s else "-"
    return (job.id, job.status, dur, lufs, peak, wall)


def summary_rows(result: BatchResult) -> list[tuple[str, ...]]:
    """One row per job: job, status, duration, LUFS, true peak, wall time."""
    return [summary_row(j) for j in result.jobs]


def format_table(rows: list[tuple[str, ...]], header: tuple[str, ...] = SUMMARY_HEADER) -> str:
    """A plain, aligned text table (machine-friendly: no box characters)."""
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    return "\n".join(lines)
