"""``trainlab runs [DIR]``: every run under a folder in one table, sorted, filtered, two runs diffed.

A run is any directory under DIR (at any depth: comparisons and searches keep theirs deeper) that
holds run.json and recipe.yaml; its row comes from run.json and findings.json (and recipe.yaml
only when a filter or ``--diff`` names a recipe key; metrics.csv only for the best epoch of the
sort metric), all read through :class:`trainlab.rundir.RunDir`. Whether a metric is maximized comes
from run.json's ``maximize`` list, so the table imports no torch; only runs written before that list
existed send the question to the metric registry.

Filters are ``KEY OP VALUE`` with OP one of ``= != < <= > >=``; KEY is a column (``status``,
``epochs``, ``name``), a metric (``val_accuracy``, ``test_loss``: the run's final value) or a
recipe key path (``model.name``, ``optim.lr``). Values compare as numbers when both sides are
numbers, else as text.
"""
from __future__ import annotations

import html
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainlab.errors import TrainlabError
from trainlab.report.page import render_page
from trainlab.rundir import REPORT, RunDir, recipe_differences

COLUMNS = ("name", "time", "status", "epochs")  # besides the metrics and the doctor's worst finding
OPERATORS = ("!=", "<=", ">=", "=", "<", ">")  # two-character ones first, so "<=" is not read as "<"
SKIPPED = {"checkpoints", "snapshots", "tb", "mlartifacts"}  # folders inside runs that hold no runs


@dataclass
class RunRow:
    """One run's line of the table."""

    run: RunDir
    name: str  # the path below DIR
    created: float | None
    status: str
    epochs: int | None
    metrics: dict[str, float]  # final val_* and test_* values
    worst: str  # the doctor's most severe finding, "" if none
    maximize: frozenset[str] | None = None  # the metrics run.json records as higher-is-better (None: not recorded)
    _recipe: dict[str, Any] | None = field(default=None, repr=False)

    def recipe(self) -> dict[str, Any]:
        """The resolved recipe (run.json's copy, else recipe.yaml), read once."""
        if self._recipe is None:
            status = self.run.status()
            self._recipe = status.get("recipe") if isinstance(status.get("recipe"), dict) else self.run.recipe_data()
        return self._recipe

    def value(self, key: str) -> Any:
        """A column, a metric or a recipe key path; None where the run has none."""
        if key in ("name", "status", "epochs"):
            return getattr(self, key)
        if key == "time":
            return self.created
        if key in self.metrics:
            return self.metrics[key]
        node: Any = self.recipe()
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def best(self, metric: str, higher: bool) -> tuple[float, int] | None:
        """The best (largest if ``higher``) value of a per-epoch ``metric`` and its 1-based epoch, from metrics.csv."""
        column = [row.get(metric, math.nan) for row in self.run.metrics()]
        finite = [(v, i + 1) for i, v in enumerate(column) if math.isfinite(v)]
        if not finite:
            return None
        return (max if higher else min)(finite, key=lambda pair: pair[0])


def higher_is_better(metric: str, rows: list[RunRow]) -> bool:
    """Whether larger values of ``metric`` are better, as the first run that records it says; else the
    metric registry's fact (imports torch: only for runs whose run.json has no ``maximize`` list)."""
    for row in rows:
        if row.maximize is not None and metric in row.metrics:
            return metric in row.maximize
    from trainlab.train.metrics import higher_is_better as registered

    return registered(metric)


def find_runs(folder: str | Path) -> Iterator[RunDir]:
    """Every run directory under ``folder`` (itself included), without entering a run's own folders."""
    root = Path(folder)
    if not root.is_dir():
        raise TrainlabError(f"runs: {root} is not a folder; give the folder that holds run directories (default: runs)")
    stack = [root]
    while stack:
        path = stack.pop()
        run = RunDir(path)
        if run.is_run():
            yield run
            continue
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        stack += [Path(e.path) for e in entries
                  if e.is_dir(follow_symlinks=False) and not e.name.startswith(".") and e.name not in SKIPPED]


def read_row(run: RunDir, root: Path) -> RunRow:
    """A run's row from run.json and findings.json; a damaged file makes a row that says so."""
    path, root = run.path.resolve(), root.resolve()
    name = path.relative_to(root).as_posix() if path != root else path.name
    try:
        status = run.status()
    except TrainlabError as e:
        return RunRow(run, name, None, "unreadable", None, {}, str(e))
    final, test = status.get("final") or {}, status.get("test") or {}
    metrics = {k: v for k, v in {**final, **test}.items()
               if k.startswith(("val_", "test_")) and isinstance(v, (int, float))}
    maximize = status.get("maximize")
    return RunRow(run, name, status.get("created"), str(status.get("status", "?")), status.get("epochs"), metrics,
                  _worst(run), frozenset(maximize) if isinstance(maximize, list) else None)


def _worst(run: RunDir) -> str:
    try:
        record = run.findings() or {}
    except (TrainlabError, ValueError):
        return "findings.json unreadable"
    findings = record.get("findings") or []
    if record.get("error"):
        return "doctor failed"
    return f"{findings[0]['severity']}: {findings[0]['name']}" if findings else ""


def parse_filter(text: str) -> tuple[str, str, str]:
    """``KEY OP VALUE`` → (key, op, value)."""
    for op in OPERATORS:
        key, sep, value = text.partition(op)
        if sep and key.strip() and re.fullmatch(r"[\w.]+", key.strip()):
            return key.strip(), op, value.strip()
    raise TrainlabError(f"--filter {text!r}: expected KEY OP VALUE with OP one of {' '.join(OPERATORS)}, "
                        "e.g. status=finished, model.name=mlp or val_accuracy>0.9")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def matches(row: RunRow, key: str, op: str, wanted: str) -> bool:
    value = row.value(key)
    if value is None:
        return op == "!="
    a, b = _number(value), _number(wanted)
    if a is not None and b is not None:
        left, right = a, b
    else:
        left, right = (str(value).lower(), wanted.lower()) if op in ("=", "!=") else (str(value), wanted)
    return {"=": left == right, "!=": left != right, "<": left < right, "<=": left <= right,
            ">": left > right, ">=": left >= right}[op]


def sort_rows(rows: list[RunRow], key: str) -> list[RunRow]:
    """Best first for a metric (higher or lower by its kind), newest first for ``time``, else ascending;
    runs without the key last."""
    present = [r for r in rows if r.value(key) is not None]
    absent = [r for r in rows if r.value(key) is None]
    descending = key == "time" or (key in metric_names(rows) and higher_is_better(key, rows))
    numeric = all(_number(r.value(key)) is not None for r in present)
    present.sort(key=lambda r: _number(r.value(key)) if numeric else str(r.value(key)), reverse=descending)
    return present + absent


def metric_names(rows: list[RunRow]) -> list[str]:
    """The metric columns: every final val_* and test_* any run has, losses first."""
    names = {k for row in rows for k in row.metrics}
    return sorted(names, key=lambda k: (not k.startswith("val_"), "loss" not in k, k))


@dataclass
class RunTable:
    root: Path
    rows: list[RunRow]
    metrics: list[str]
    best: str | None  # the per-epoch metric whose best epoch is shown (the sort metric if it is one)
    higher: bool = False  # whether the best of ``best`` is its largest value

    def best_of(self, row: RunRow) -> tuple[float, int] | None:
        """The row's best ``best`` value and its epoch."""
        return row.best(self.best, self.higher) if self.best else None


def runs_table(folder: str | Path, sort: str = "time", filters: list[str] = ()) -> RunTable:
    """The runs under ``folder``, filtered (every filter must hold) and sorted."""
    root = Path(folder)
    rows = [read_row(run, root) for run in find_runs(root)]
    for text in filters:
        key, op, wanted = parse_filter(text)
        rows = [row for row in rows if matches(row, key, op, wanted)]
    rows = sort_rows(rows, sort)
    best = sort if sort.startswith("val_") else None
    return RunTable(root, rows, metric_names(rows), best, bool(best) and higher_is_better(best, rows))


def find_run(folder: str | Path, name: str) -> RunDir:
    """A run by its path below ``folder`` or as a path of its own."""
    for candidate in (Path(folder) / name, Path(name)):
        if RunDir(candidate).is_run():
            return RunDir(candidate)
    raise TrainlabError(f"--diff: {name} is not a run directory (neither under {folder} nor as a path); "
                        "give run names as `trainlab runs` lists them")


def diff_runs(a: RunDir, b: RunDir) -> tuple[list[str], list[tuple[str, float | None, float | None]]]:
    """Recipe keys whose values differ (``key: a → b``) and every final/test metric of either run with
    both values (None where a run lacks it)."""
    root = Path(os.path.commonpath([a.path.resolve(), b.path.resolve()]))
    row_a, row_b = read_row(a, root), read_row(b, root)
    metrics = [(k, row_a.metrics.get(k), row_b.metrics.get(k)) for k in metric_names([row_a, row_b])]
    return recipe_differences(row_a.recipe(), row_b.recipe()), metrics


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def format_time(created: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(created)) if created else "?"


def format_number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def write_html(table: RunTable, path: str | Path) -> Path:
    """One page, the shared template, linking each run's report (relative links)."""
    path = Path(path)
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS) + "".join(f"<th>{e(m)}</th>" for m in table.metrics)
    if table.best:
        head += f"<th>best {e(table.best)} (epoch)</th>"
    head += '<th class="l">doctor\'s worst finding</th>'
    lines = []
    for row in table.rows:
        report = row.run.file(REPORT)
        link = os.path.relpath(report.resolve(), path.resolve().parent)
        name = f'<a href="{e(Path(link).as_posix())}">{e(row.name)}</a>' if report.is_file() else e(row.name)
        cells = [f'<td class="l">{name}</td>', f'<td class="l">{e(format_time(row.created))}</td>',
                 f'<td class="l status-{e(row.status)}">{e(row.status)}</td>', f"<td>{e(str(row.epochs or '–'))}</td>"]
        cells += [f"<td>{e(format_number(row.metrics.get(m)))}</td>" for m in table.metrics]
        if table.best:
            best = table.best_of(row)
            cells.append(f"<td>{e(format_number(best[0]))} ({best[1]})</td>" if best else "<td>–</td>")
        cells.append(f'<td class="l">{e(row.worst)}</td>')
        lines.append(f"<tr>{''.join(cells)}</tr>")
    body = (f"<p>{plural(len(table.rows), 'run')} under <code>{e(str(table.root))}</code>; each name links to its report.</p>\n"
            f"<table><tr>{head}</tr>\n" + "\n".join(lines) + "</table>")
    path.write_text(render_page(f"runs in {table.root}", body, heading=f"Runs in {table.root}"), encoding="utf-8")
    return path
