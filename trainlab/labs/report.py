"""Lab reports: one self-contained HTML page per lab, one combined page, and the Markdown verdict table.

Pages render a :class:`~trainlab.labs.LabResult` as recorded (the notes' claim, the measured table
beside the notes' values, the figures inline as SVG, each criterion with its per-seed values, median
and 95 % interval, and the verdict); they compute nothing new. Every piece of text is escaped.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

from trainlab.labs.core import Check, Criterion, Lab, LabResult, Value
from trainlab.labs.verdict import Evidence
from trainlab.report.page import render_page
from trainlab.train.checkpoint import atomic_write


def format_value(value: Value | None) -> str:
    """Numbers with 6 significant digits (the precision of the notes' tables; integers as they are); None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, int):  # bool too
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    return str(value)


def _css_class(verdict: str) -> str:
    return verdict.replace(" ", "-")


def _criterion_row(criterion: Criterion) -> str:
    e = html.escape
    verdict = f"<td class='{_css_class(criterion.verdict)}'>{e(criterion.verdict)}</td>"
    if isinstance(criterion, Check):
        return f"<tr><td>{e(criterion.text)}</td><td colspan='3'>exact computation, no seeds</td>{verdict}</tr>"
    lo, hi = criterion.interval
    per_seed = ", ".join(f"{s}: {format_value(v)}" for s, v in zip(criterion.seeds, criterion.values))
    source = f" <small>({e(criterion.source)})</small>" if criterion.source else ""
    return (f"<tr><td>{e(criterion.text)}<div class='seeds'>per seed — {e(per_seed)}</div></td>"
            f"<td>{e(format_value(criterion.median))}</td><td>[{e(format_value(lo))}, {e(format_value(hi))}]</td>"
            f"<td>{e(criterion.criterion)}{source}</td>{verdict}</tr>")


def lab_section(lab: Lab, result: LabResult, heading: str = "h2") -> str:
    """One lab as an HTML fragment: claim, table, checks with the verdict, figures, note."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(r.name)}</td><td>{e(format_value(r.measured))}</td><td>{e(format_value(r.expected))}</td>"
        f"<td>{e(r.reference) if r.expected is not None else ''}</td></tr>" for r in result.rows)
    criteria = "".join(_criterion_row(c) for c in result.checks)
    figures = "".join(f"<div>{svg}</div>" for svg in result.figures.values())
    variant = "quick variant" if result.quick else "full variant"
    return f"""<section id="{e(lab.id)}">
<{heading}>{e(lab.id)} — {e(lab.name)}</{heading}>
<p class="claim"><b>The notes</b> ({e(lab.source)}): {e(lab.claim)}<br><small>Measured: {e(lab.measures)}</small></p>
<table><tr><th>quantity</th><th>measured</th><th>notes</th><th>source of the expected value</th></tr>{rows}</table>
<p>Verdict: <b class="{_css_class(result.verdict)}">{e(result.verdict)}</b> ({e(variant)}, {len(result.seeds)} seeds,
{result.seconds:.1f} s). Each criterion is judged by the 95 % bootstrap interval of its median over the seeds:
reproduced when the interval clears the claim's threshold, not reproduced when it clears the opposite,
inconclusive otherwise; the lab is reproduced when every criterion is.</p>
<table><tr><th>criterion</th><th>median</th><th>95 % interval</th><th>claim</th><th>verdict</th></tr>{criteria}</table>
<div class="figs">{figures}</div>
<p>{e(result.note)}</p>
</section>"""


def write_lab_report(lab: Lab, result: LabResult, path: Path) -> Path:
    """Write one lab's page to ``path``; return it."""
    atomic_write(path, render_page(f"trainlab lab {lab.id}", lab_section(lab, result, heading="h1")).encode())
    return path


def write_combined_report(done: Sequence[tuple[Lab, LabResult]], path: Path) -> Path:
    """Write every lab in ``done`` on one page, with a verdict table on top; return the path."""
    e = html.escape
    summary = "".join(
        f"<tr><td><a href='#{e(lab.id)}'>{e(lab.id)}</a></td><td>{e(lab.name)}</td>"
        f"<td class='{_css_class(result.verdict)}'>{e(result.verdict)}</td><td>{result.seconds:.1f} s</td></tr>"
        for lab, result in done)
    reproduced = sum(result.reproduced for _, result in done)
    body = (f"<p>{reproduced} of {len(done)} claims reproduced.</p>"
            f"<table><tr><th>claim</th><th>lab</th><th>verdict</th><th>time</th></tr>{summary}</table>"
            + "".join(lab_section(lab, result) for lab, result in done))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, render_page("trainlab labs", body,
                                   heading="trainlab labs: the lectures' claims, measured").encode())
    return path


def summary_markdown(done: Sequence[tuple[Lab, LabResult]]) -> str:
    """The verdict table of docs/labs.md: claim, each criterion with its median, 95 % interval and
    threshold, the number of seeds, the verdict."""
    lines = ["| claim | lab | criteria: median [95 % interval] vs the claim's threshold | seeds | verdict |",
             "|---|---|---|---|---|"]
    for lab, result in done:
        measured = "<br>".join(f"{_MARK[c.verdict]} {c.summary()}" for c in result.checks).replace("|", "\\|")
        seeds = len(result.seeds) if any(isinstance(c, Evidence) for c in result.checks) else "exact"
        lines.append(f"| {lab.id} | {lab.name} | {measured} | {seeds} | **{result.verdict}** |")
    variants = {"quick" if result.quick else "full" for _, result in done}
    return "\n".join(lines) + f"\n\n(variant: {', '.join(sorted(variants))})\n"


_MARK = {"reproduced": "✓", "not reproduced": "✗", "inconclusive": "?"}
