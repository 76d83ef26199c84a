"""Judge the analysis figures against the goals of issue 12 and format them as plain text.

Each ``judge_*`` takes the section's analysis results and the jobs' meta (by name) and
returns a :class:`Section`: one summary row (figure and goal side by side) plus detail
lines. Nothing here asserts; ``ok`` is None where a section has no single goal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

TEMPO_TOLERANCE = 0.04


@dataclass
class Section:
    label: str
    figure: str
    goal: str
    ok: bool | None
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _pct(n: float, d: float) -> str:
    return f"{100.0 * n / d:.0f} %" if d else "n/a"


def judge_tagger(res: dict, meta: dict[str, dict], goal: float = 0.75) -> list[Section]:
    """(i) rank of a render for its own tag among all renders of its seed (hit = 1st);
    (ii) rank of its own tag among the 50 tags of that render."""
    renders = [{**meta[r["name"]], "tags": r["tags"]} for r in res["renders"]]
    seeds = sorted({r["seed"] for r in renders})
    prompts = list(dict.fromkeys(r["prompt"] for r in renders))
    cell: dict[tuple[str, int], str] = {}
    hits = 0
    for r in renders:
        same_seed = [o for o in renders if o["seed"] == r["seed"]]
        own = r["tags"][r["tag"]]
        among_renders = 1 + sum(o["tags"][r["tag"]] > own for o in same_seed)
        among_tags = 1 + sum(p > own for p in r["tags"].values())
        top_tag, top_p = max(r["tags"].items(), key=lambda kv: kv[1])
        hits += among_renders == 1
        cell[r["prompt"], r["seed"]] = (f"{among_renders:>2}/{len(same_seed):<2} {among_tags:>2}/50 "
                                        f"{own:.2f}  {top_tag} {top_p:.2f}")
    head = f"  {'prompt':<20} {'tag':<12}" + "".join(f" | seed {s}: render/tag rank, p(tag), top tag" for s in seeds)
    lines = [head]
    for p in prompts:
        tag = next(r["tag"] for r in renders if r["prompt"] == p)
        lines.append(f"  {p:<20} {tag:<12}" + "".join(f" | {cell[p, s]:<40}" for s in seeds))
    figure = f"{hits}/{len(renders)} = {_pct(hits, len(renders))}"
    return [Section("a. tagger hit rate (own render ranked 1st)", figure, f">= {goal * 100:.0f} %",
                   hits >= goal * len(renders), lines)]


def _tempo_cell(read: float, bpm: float) -> tuple[bool, str]:
    ratio = read / bpm
    ok = abs(ratio - 1) <= TEMPO_TOLERANCE
    return ok, "ok" if ok else f"x{ratio:.2f}"


def judge_tempo(res: dict, meta: dict[str, dict]) -> list[Section]:
    renders = [{**meta[r["name"]], **r} for r in res["renders"]]
    tempos = sorted({r["bpm"] for r in renders})
    grooves = list(dict.fromkeys(r["groove"] for r in renders))
    lines = ["  beat_track (librosa's default 120 bpm prior): 'ok' within 4 %, else read/requested",
             f"  {'groove':<14}" + "".join(f"{t:>7}" for t in tempos)]
    good = {"beat_track": 0, "flat_prior": 0}
    for g in grooves:
        row = {r["bpm"]: r for r in renders if r["groove"] == g}
        cells = []
        for t in tempos:
            ok, text = _tempo_cell(row[t]["beat_track"], t)
            good["beat_track"] += ok
            good["flat_prior"] += _tempo_cell(row[t]["flat_prior"], t)[0]
            cells.append(f"{text:>7}")
        lines.append(f"  {g:<14}" + "".join(cells))
    n = len(renders)
    lines.append(f"  librosa.feature.tempo with a flat 30-300 bpm prior: {good['flat_prior']}/{n} = "
                 f"{_pct(good['flat_prior'], n)}")
    figure = f"{good['beat_track']}/{n} = {_pct(good['beat_track'], n)}"
    return [Section("b. tempo read within 4 % (beat_track)", figure, ">= 90 %", good["beat_track"] >= 0.9 * n, lines)]


def judge_scale(res: dict, meta: dict[str, dict]) -> list[Section]:
    lines = [f"  {meta[r['name']]['prompt']:<14} {meta[r['name']]['scale']:<24} {100 * r['outside']:5.1f} %"
             for r in res["renders"]]
    floor = 100 * res["reference_floor"]
    lines.append(f"  measure floor on a synthetic strictly in-scale C major piece: {floor:.1f} %")
    mean = sum(r["outside"] for r in res["renders"]) / len(res["renders"])
    return [Section("c. energy outside the scale (mean)", f"{100 * mean:.1f} %", "<= 10 %", mean <= 0.10, lines)]


def judge_mono(res: dict, meta: dict[str, dict]) -> list[Section]:
    measure = {"brightness": ("centroid_hz", "Hz", "centroid"), "density": ("onsets_per_s", "onsets/s", "onset rate")}
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in res["renders"]:
        m = meta[r["name"]]
        series.setdefault((m["prompt"], m["knob"]), []).append((m["level"], r[measure[m["knob"]][0]]))
    lines, passed = [], {knob: [] for knob in measure}
    for (prompt, knob), points in series.items():
        values = [v for _, v in sorted(points)]
        rising = all(b > a for a, b in zip(values, values[1:]))
        passed[knob].append(rising)
        levels = "/".join(f"{lv:g}" for lv, _ in sorted(points))
        shown = " -> ".join(f"{v:g}" for v in values)
        lines.append(f"  {prompt:<12} {knob:<10} {levels}: {shown} {measure[knob][1]}  "
                     f"{'pass' if rising else 'FAIL'}")
    rows = [Section(f"d. {knob} -> {measure[knob][2]} rises", f"{sum(ok)}/{len(ok)} prompts", "all",
                    all(ok)) for knob, ok in passed.items() if ok]
    rows[0].details = lines
    return rows


def _describe_event(event: dict) -> str:
    change = {k: v for k, v in event.items() if k != "at"}
    kind, values = next(iter(change.items()))
    return f"{kind} -> " + ", ".join(f"{t}:{w:g}" for t, w in values.items()) + f" at {event['at']}"


def judge_events(res: dict, meta: dict[str, dict]) -> list[Section]:
    lines = [f"  start: first 5 ms window where the render departs from the same timeline without the event "
             f"by more than {res['threshold_db']:g} dB; complete: the difference reaches its final level"]
    errors, blends = [], []
    for r in res["renders"]:
        m = meta[r["name"]]
        head = f"  {m['label']:<24} {_describe_event(m['event']):<34} (= {m['expected_s']:g} s): "
        if r["start_s"] is None:
            lines.append(head + f"no common past (the renders differ by {r['floor_db']:g} dB in their first 2 s)")
            errors.append(math.inf)
            continue
        done = "never" if r["complete_s"] is None else f"{r['complete_s']:.2f} s"
        lines.append(head + f"starts {r['start_s']:.3f} s ({r['error_ms']:+.0f} ms), complete {done}")
        errors.append(abs(r["error_ms"]))
        blends.append(math.inf if r["complete_s"] is None else r["complete_s"] - m["expected_s"])
    worst = max(errors)
    start = Section("e. event start error (worst |error|)", f"{worst:.0f} ms", "<= 50 ms", worst <= 50, lines)
    late = max(blends, default=math.nan)
    complete = Section("e. event blend complete after (worst)", f"{late:.2f} s", "short", None)
    return [start, complete]


def judge_form(res: dict, meta: dict[str, dict]) -> list[Section]:
    lines = []
    for r in res["renders"]:
        m = meta[r["name"]]
        lines.append(f"  {m['prompt']:<10} seed {m['seed']} {m['bpm']} bpm, 4 bars = {r['lag_s']:g} s: "
                     f"waveform r mean {r['wave_mean']:.3f} (max {r['wave_max']:.3f}), "
                     f"log-mel r mean {r['mel_mean']:.3f}")
    worst = max(r["wave_mean"] for r in res["renders"])
    ok = not math.isnan(worst) and worst < 0.8
    return [Section("f. 4-bar waveform self-correlation (worst)", f"{worst:.3f}", "< 0.8", ok, lines)]


JUDGES = {"tagger": judge_tagger, "tempo": judge_tempo, "scale": judge_scale, "mono": judge_mono,
          "events": judge_events, "form": judge_form}


def format_table(sections: list[Section], title: str) -> str:
    """The summary table, then each section's details."""
    width = max(len(s.label) for s in sections)
    out = [title, "", f"{'section':<{width}}  {'figure':>14}  {'goal':<9} {'met':<5} {'time':>6}"]
    out.append("-" * len(out[-1]))
    for s in sections:
        met = "-" if s.ok is None else ("yes" if s.ok else "NO")
        took = f"{s.seconds:5.0f}s" if s.seconds else ""
        out.append(f"{s.label:<{width}}  {s.figure:>14}  {s.goal:<9} {met:<5} {took:>6}")
    for s in sections:
        if s.details:
            out += ["", s.label.split(" ", 1)[0] + " details", *s.details]
    return "\n".join(out)
