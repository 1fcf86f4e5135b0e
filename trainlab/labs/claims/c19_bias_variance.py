"""C19: the bias/variance table of the notes (seed 004), through trainlab's diagnosis function.

avoidable bias = train error − Bayes error (≈ 0 here, as the notes' "opt ≈ 0"); generalization gap
= validation error − train error; each is high above 5 percentage points
(:func:`trainlab.diagnose.findings.bias_variance`, the function the doctor uses). There is no
randomness in it, so its criteria are exact checks (:class:`~trainlab.labs.Check`) and it ignores
the seeds.
"""
from __future__ import annotations

import inspect
from pathlib import Path

from matplotlib.figure import Figure

from trainlab.diagnose.findings import bias_variance
from trainlab.labs import Check, LabResult, Row, lab
from trainlab.report.svg import svg_text

# (train error, validation error, the notes' "Problema") — the notes' four columns, exactly.
TABLE = [(0.01, 0.11, "Varianza"), (0.15, 0.16, "Sesgo"), (0.15, 0.30, "Ambos"), (0.005, 0.01, "✓")]
MEANING = {"Varianza": "high variance", "Sesgo": "high bias", "Ambos": "high bias and high variance", "✓": "fine"}


def figure(points: list[tuple[float, float, str]], threshold: float) -> str:
    """The four cases in the (train error, validation error) plane with the diagnosis regions' edges."""
    fig = Figure(figsize=(5.6, 3.8))
    ax = fig.add_subplot()
    for train, val, verdict in points:
        ax.scatter(100 * train, 100 * val, s=30)
        ax.annotate(f"{100 * train:g} % / {100 * val:g} %: {verdict}", (100 * train, 100 * val), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.axvline(100 * threshold, color="gray", ls="--", lw=1)
    ax.plot([0, 20], [100 * threshold, 20 + 100 * threshold], color="gray", ls=":", lw=1)
    ax.set_xlabel("train error (%)   — dashed: avoidable-bias threshold")
    ax.set_ylabel("validation error (%)   — dotted: gap threshold")
    ax.set_xlim(-1, 32)  # room for the labels on the right
    ax.set_ylim(-1, 35)
    ax.grid(alpha=0.3)
    return svg_text(fig)


@lab(
    id="C19", name="the bias/variance table",
    claim="Train error 1 % / validation 11 % → variance; 15 % / 16 % → bias; 15 % / 30 % → both; 0.5 % / 1 % → fine "
          "(avoidable bias = train − Bayes error, generalization gap = validation − train error).",
    measures="trainlab's bias_variance diagnosis on exactly the notes' four cases",
    source="004_95ad34fad61cb9b4.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    rows, checks, points = [], [], []
    threshold = inspect.signature(bias_variance).parameters["threshold"].default  # the doctor's own default
    for train, val, notes in TABLE:
        result = bias_variance(train, val)  # Bayes error 0 and the default threshold, as the doctor runs it
        case = f"train {100 * train:g} % / val {100 * val:g} %"
        rows += [Row(f"{case}: avoidable bias (points)", round(100 * result.avoidable_bias, 6)),
                 Row(f"{case}: generalization gap (points)", round(100 * result.variance, 6)),
                 Row(f"{case}: diagnosis", result.verdict, f"{MEANING[notes]} ({notes})")]
        checks.append(Check(f"{case}: '{result.verdict}', the notes: {notes}", result.verdict == MEANING[notes]))
        points.append((train, val, result.verdict))
    note = ("The notes' four columns, exactly as printed, with Bayes error 0 (the notes' \"opt ≈ 0\") and the "
            "doctor's threshold of 5 points for both avoidable bias and generalization gap. "
            "An exact computation: no seeds, no intervals.")
    return LabResult(rows, checks, {"c19_table": figure(points, threshold)}, note)
