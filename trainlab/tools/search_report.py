"""The search's outputs: ``OUT/best.yaml`` and ``OUT/report.html``.

Both are rendered from the study's records alone (trial values, parameters, per-epoch reports,
user attributes), so any worker on any machine can write them. The page is self-contained:
inline SVG figures (matplotlib), no scripts; every piece of user text is escaped.
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import optuna
from matplotlib import colormaps
from matplotlib.figure import Figure
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from trainlab.recipe import validate_recipe
from trainlab.report.page import render_page
from trainlab.report.style import BEST, COMPLETE, PRUNED, log_axis
from trainlab.report.svg import svg_text
from trainlab.tools.space import Param, Space, apply_values
from trainlab.train.checkpoint import atomic_write

TOP = 10  # rows in the best-trials table



def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials, best first."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted(done, key=lambda t: t.value, reverse=study.direction == StudyDirection.MAXIMIZE)


def best_recipe_text(study: optuna.Study, space: Space, recipe_data: dict[str, Any]) -> str | None:
    """The best trial's complete recipe as YAML, with a header saying where it came from."""
    trials = ranked(study)
    if not trials:
        return None
    best = trials[0]
    values = best.user_attrs.get("values") or space.values_of(best.params)
    recipe = validate_recipe(apply_values(recipe_data, values))
    shown = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())
    header = (f"# best of study '{study.study_name}': trial {best.number}, value {best.value:.6g}\n"
              f"# searched values: {shown}\n")
    return header + recipe.to_yaml()


def write_best_recipe(study: optuna.Study, space: Space, recipe_data: dict[str, Any], out: Path) -> Path | None:
    """``OUT/best.yaml``: a complete recipe ``trainlab run`` accepts (None before any trial completes)."""
    text = best_recipe_text(study, space, recipe_data)
    if text is None:
        return None
    path = out / "best.yaml"
    atomic_write(path, text.encode())
    return path


# ---- figures ----


def _position(param: Param, value: Any) -> float:
    """``value`` placed in [0, 1] between the space's bounds, on the parameter's scale."""
    if param.kind == "choice":
        index = list(param.choices).index(value)
        return index / max(len(param.choices) - 1, 1)
    low, high = param.distribution().low, param.distribution().high
    if param.log_scale and param.kind != "one_minus_loguniform":
        value, low, high = math.log(value), math.log(low), math.log(high)
    return (value - low) / (high - low) if high > low else 0.5


def _ends(param: Param) -> tuple[str, str]:
    if param.kind == "choice":
        return _fmt(param.to_value(param.choices[0])), _fmt(param.to_value(param.choices[-1]))
    if param.kind == "one_minus_loguniform":  # the axis is r = log10(1 − β): β's high end at the bottom
        return _fmt(param.high), _fmt(param.low)
    return _fmt(param.low), _fmt(param.high)


def _axis_label(param: Param) -> str:
    if param.kind == "one_minus_loguniform":
        return f"{param.key}\n(log of 1 − value)"
    return f"{param.key}\n(log)" if param.log_scale else param.key


def parallel_figure(trials: list[FrozenTrial], space: Space, metric: str, maximize: bool) -> str:
    """Parallel coordinates: one line per completed trial through every parameter axis and the metric
    (best value at the top of the metric axis)."""
    params = list(space.params)
    fig = Figure(figsize=(max(5.0, 1.6 * (len(params) + 1)), 3.6))
    ax = fig.add_subplot()
    values = [t.value for t in trials]
    low, high = min(values), max(values)
    cmap = colormaps["viridis"]
    for rank, trial in reversed(list(enumerate(trials))):  # best drawn last, on top
        if any(p.name not in trial.params for p in params):
            continue
        goodness = 0.5 if high == low else (trial.value - low) / (high - low)
        goodness = goodness if maximize else 1 - goodness
        ys = [_position(p, trial.params[p.name]) for p in params] + [goodness]
        ax.plot(range(len(ys)), ys, color=BEST if rank == 0 else cmap(goodness),
                lw=2.5 if rank == 0 else 1, alpha=1 if rank == 0 else 0.7)
    best, worst = (high, low) if maximize else (low, high)
    ends = [_ends(p) for p in params] + [(_fmt(worst), _fmt(best))]
    for i, (bottom, top) in enumerate(ends):
        ax.axvline(i, color="#888", lw=0.8)
        ax.text(i, -0.08, bottom, ha="center", va="top", fontsize=8)
        ax.text(i, 1.04, top, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(ends)), [_axis_label(p) for p in params] + [metric], fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.2, 1.15)
    ax.set_title(f"parallel coordinates (red: best; colour: {metric}, brighter is better)", fontsize=9)
    return svg_text(fig)


def slice_figure(study: optuna.Study, param: Param, metric: str) -> str:
    """The final metric against one parameter; pruned trials at their last reported value."""
    fig = Figure(figsize=(3.8, 3.0))
    ax = fig.add_subplot()
    for state, style in ((TrialState.PRUNED, {"marker": "x", "color": PRUNED, "label": "pruned (last report)"}),
                         (TrialState.COMPLETE, {"marker": "o", "color": COMPLETE, "label": "complete"})):
        points = []
        for t in study.get_trials(deepcopy=False, states=(state,)):
            y = t.value if state == TrialState.COMPLETE else _last_report(t)
            if param.name in t.params and y is not None:
                points.append((param.plot_x(param.to_value(t.params[param.name])), y))
        if points and param.kind == "choice":
            labels = [_fmt(param.to_value(c)) for c in param.choices]
            points = [(labels.index(_fmt(x)), y) for x, y in points]
        if points:
            xs, ys = zip(*points)
            ax.scatter(xs, ys, s=18, linewidths=1, **style)
    if param.kind == "choice":
        ax.set_xticks(range(len(param.choices)), [_fmt(param.to_value(c)) for c in param.choices], fontsize=8)
    elif param.log_scale:
        log_axis(ax, "x")
    ax.set_xlabel(param.label())
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return svg_text(fig)


def _last_report(trial: FrozenTrial) -> float | None:
    reports = trial.intermediate_values
    return reports[max(reports)] if reports else None


def curves_figure(study: optuna.Study, best: FrozenTrial | None, metric: str) -> str | None:
    """Every trial's per-epoch ``metric``; pruned runs grey, the best red."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    if not any(t.intermediate_values for t in trials):
        return None
    fig = Figure(figsize=(4.6, 3.0))
    ax = fig.add_subplot()
    for t in trials:
        steps = sorted(t.intermediate_values)
        is_best = best is not None and t.number == best.number
        color = BEST if is_best else PRUNED if t.state == TrialState.PRUNED else COMPLETE
        ax.plot(steps, [t.intermediate_values[s] for s in steps], color=color, lw=2 if is_best else 0.8,
                alpha=1 if is_best else 0.6)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title("per-epoch reports (grey: pruned, red: best)", fontsize=9)
    ax.grid(alpha=0.3)
    return svg_text(fig)


def history_figure(study: optuna.Study, metric: str) -> str:
    """Each completed trial's value by trial number, and the best so far."""
    done = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)
    pick = max if study.direction == StudyDirection.MAXIMIZE else min
    best_so_far, running = [], None
    for t in done:
        running = t.value if running is None else pick(running, t.value)
        best_so_far.append(running)
    fig = Figure(figsize=(4.6, 3.0))
    ax = fig.add_subplot()
    ax.scatter([t.number for t in done], [t.value for t in done], s=14, label="trial")
    ax.step([t.number for t in done], best_so_far, where="post", color=BEST, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return svg_text(fig)


# ---- the page ----


def _row(cells: list[Any], header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{html.escape(_fmt(c))}</{tag}>" for c in cells) + "</tr>"


def _counts(study: optuna.Study) -> dict[str, int]:
    counts = {"complete": 0, "pruned": 0, "failed": 0, "running": 0, "surplus": 0}
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus"):
            counts["surplus"] += 1
        else:
            key = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}
            counts[key.get(t.state, "running")] += 1
    return counts


def _best_table(trials: list[FrozenTrial], space: Space, metric: str, out: Path) -> str:
    staged = any("stage" in t.user_attrs for t in trials)
    head = ["rank", "trial", metric, *(["stage"] if staged else []), *[p.key for p in space.params], "epochs",
            "worker", "run"]
    rows = [_row(head, header=True)]
    for rank, t in enumerate(trials[:TOP], 1):
        values = t.user_attrs.get("values") or space.values_of(t.params)
        run = f"trials/{t.number}/report.html"  # absent for trials another machine ran
        link = f'<td><a href="{run}">report</a></td>' if (out / run).is_file() else "<td></td>"
        rows.append(_row([rank, t.number, t.value, *([t.user_attrs.get("stage", "")] if staged else []),
                          *[values.get(p.key, "") for p in space.params], t.user_attrs.get("epochs", ""),
                          t.user_attrs.get("worker", "")])[:-len("</tr>")] + link + "</tr>")
    return f"<table>{''.join(rows)}</table>"


def _stages_table(study: optuna.Study, space: Space) -> str:
    by_name = space.by_name()
    stages: dict[int, list[FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if "stage" in t.user_attrs:
            stages.setdefault(t.user_attrs["stage"], []).append(t)
    if not stages:
        return ""
    rows = [_row(["stage", "trials", "box (the range this stage searched; whole space if empty)"], header=True)]
    for stage, trials in sorted(stages.items()):
        box = trials[0].user_attrs.get("box", {})
        shown = "; ".join(f"{by_name[n].key}: " + ", ".join(_fmt(by_name[n].to_value(v)) for v in bounds)
                          for n, bounds in box.items() if n in by_name)
        rows.append(_row([stage, len(trials), shown or "whole space"]))
    return f"<h2>Stages</h2><table>{''.join(rows)}</table>"


def write_search_report(study: optuna.Study, space: Space, out: Path, metric: str, storage: str) -> Path:
    """Render ``OUT/report.html`` from the study's records; return its path."""
    trials = ranked(study)
    counts = _counts(study)
    figures = []
    if trials:
        figures.append(parallel_figure(trials, space, metric, study.direction == StudyDirection.MAXIMIZE))
        figures.append(history_figure(study, metric))
    curves = curves_figure(study, trials[0] if trials else None, metric)
    figures += [curves] if curves else []
    slices = [slice_figure(study, p, metric) for p in space.params] if trials else []
    best_path = out / "best.yaml"
    best_text = best_path.read_text() if best_path.is_file() else "no trial has completed yet"
    attrs = study.user_attrs.get("trainlab", {})
    body = f"""<p>Strategy <b>{html.escape(str(attrs.get('strategy', '?')))}</b>, {html.escape(study.direction.name.lower())}
<b>{html.escape(metric)}</b>; storage {html.escape(storage)}.</p>
<table>{_row(list(counts), header=True)}{_row(list(counts.values()))}</table>
<h2>Best trials</h2>{_best_table(trials, space, metric, out) if trials else '<p>No trial has completed yet.</p>'}
{_stages_table(study, space)}
<h2>Search</h2><div class="figs">{''.join(figures) or '<p>No trial has completed yet.</p>'}</div>
<h2>Slices: {html.escape(metric)} against each parameter</h2><div class="figs">{''.join(slices)}</div>
<h2>Best recipe (best.yaml)</h2><pre>{html.escape(best_text)}</pre>"""
    page = render_page(f"trainlab search — {study.study_name}", body, heading=f"Search {study.study_name}")
    path = out / "report.html"
    atomic_write(path, page.encode())
    return path
