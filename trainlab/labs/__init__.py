"""Labs: each reproduces one claim of the lecture notes (LECTURES.md §2, C1…C25) and says whether it held.

A lab is a :class:`Lab` (its id, the notes' claim, the seed file it comes from, and a ``run``
function) living in its own module ``trainlab/labs/c<N>_<topic>.py`` as the module-level ``LAB``;
modules so named are found on first use, so adding a lab touches no other file. ``run(quick,
out_dir)`` returns a :class:`LabResult`: the measured table (each :class:`Row` a named number with
the notes' value beside it where the notes give one), figures as SVG text, the :class:`Check` list
whose conjunction is the verdict, and a short note. ``quick`` runs a small variant in a few
seconds; ``out_dir`` is where a lab may write run directories.

:func:`run_lab` runs one lab and writes ``OUT/<id>/``: ``result.json``, one ``.svg`` per figure
and ``report.html``; :func:`run_all` runs several and adds ``OUT/labs.html`` (one combined page)
and ``OUT/summary.md`` (the verdict table of docs/labs.md).

Example::

    >>> from trainlab.labs import get_lab
    >>> lab = get_lab("c19")
    >>> lab.id, lab.source
    ('C19', '004_95ad34fad61cb9b4.txt')
    >>> result = lab.run(True, None)
    >>> result.verdict
    'reproduced'
"""
from __future__ import annotations

import importlib
import json
import math
import pkgutil
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainlab.errors import TrainlabError, did_you_mean

Value = float | int | str


@dataclass(frozen=True)
class Row:
    """One measured quantity; ``expected`` is the value the notes give (None where they give none)
    and ``reference`` says where ``expected`` comes from ("notes", or e.g. "notes' formula", "theory")."""

    name: str
    measured: Value
    expected: Value | None = None
    reference: str = "notes"


@dataclass(frozen=True)
class Check:
    """One acceptance criterion, stated with its numbers (``text``), and whether it holds."""

    text: str
    passed: bool


@dataclass
class LabResult:
    """What a lab measured. The verdict is *reproduced* when every check passes."""

    rows: list[Row]
    checks: list[Check]
    figures: dict[str, str] = field(default_factory=dict)  # file stem → SVG text
    note: str = ""
    lab: str = ""  # filled in by run_lab
    quick: bool = False
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # what run_lab wrote: kind → path

    @property
    def reproduced(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def verdict(self) -> str:
        return "reproduced" if self.reproduced else "not reproduced"

    def value(self, name: str) -> Value:
        """The measured value of the row called ``name``; a KeyError listing the rows otherwise."""
        matches = [row.measured for row in self.rows if row.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} rows called {name!r}; rows: {[row.name for row in self.rows]}")
        return matches[0]

    def to_dict(self) -> dict[str, Any]:
        """Numbers and texts (not the figures), NaN and inf as strings, ready for JSON."""
        def plain(v: Value | None) -> Value | None:
            return str(v) if isinstance(v, float) and not math.isfinite(v) else v

        return {"lab": self.lab, "quick": self.quick, "seconds": round(self.seconds, 3), "verdict": self.verdict,
                "rows": [{"name": r.name, "measured": plain(r.measured), "expected": plain(r.expected),
                          "reference": r.reference} for r in self.rows],
                "checks": [{"text": c.text, "passed": c.passed} for c in self.checks],
                "note": self.note, "files": self.files}


@dataclass(frozen=True)
class Lab:
    """One lecture claim as an experiment: ``id`` ("C1"), a short ``name``, the notes' ``claim``,
    what the lab ``measures``, the ``source`` seed file and ``experiment(quick, out_dir) -> LabResult``,
    which :meth:`run` calls."""

    id: str
    name: str
    claim: str
    measures: str
    source: str
    experiment: Callable[[bool, Path | None], LabResult]

    @property
    def number(self) -> int:
        return int(self.id[1:])

    def run(self, quick: bool = False, out_dir: Path | None = None) -> LabResult:
        """Run the experiment on one CPU thread, so that its numbers — and the verdict — are the same
        on every machine: with several threads torch splits float sums differently, and in chaotic
        regimes (lr 3 in C11, the snapshots of C15) that changes the outcome. The thread count is
        restored afterwards."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self.experiment(quick, out_dir)
        finally:
            torch.set_num_threads(threads)


def seeds_phrase(seeds: Sequence[int]) -> str:
    """"seed 0" or "mean over 10 seeds (0–9)", for a lab's note."""
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"mean over {len(seeds)} seeds ({min(seeds)}–{max(seeds)})"


_MODULE = re.compile(r"^c\d+_\w+$")
_LABS: dict[str, Lab] = {}


def _discover() -> dict[str, Lab]:
    if not _LABS:
        found = {}
        for info in pkgutil.iter_modules(__path__):
            if _MODULE.match(info.name):
                lab = importlib.import_module(f"{__name__}.{info.name}").LAB
                if lab.id in found:
                    raise RuntimeError(f"lab {lab.id} is defined twice ({info.name})")
                found[lab.id] = lab
        _LABS.update(sorted(found.items(), key=lambda item: item[1].number))
    return _LABS


def all_labs() -> list[Lab]:
    """Every lab, in claim order (C1, C2, …)."""
    return list(_discover().values())


def get_lab(name: str) -> Lab:
    """The lab with id ``name`` (case-insensitive: "c1" is C1); a :class:`TrainlabError` naming the
    known ids otherwise."""
    labs = _discover()
    key = name.strip().upper()
    if key not in labs:
        raise TrainlabError(f"lab '{name}' does not exist; {did_you_mean(key, labs)}known labs: {', '.join(labs)} "
                            "(see `trainlab lab list`)")
    return labs[key]


def run_lab(lab: Lab | str, quick: bool = False, out_dir: str | Path = "runs/labs") -> LabResult:
    """Run one lab; write ``out_dir/<id>/`` (result.json, the figures as .svg, report.html)."""
    from trainlab.labs.report import write_lab_report

    lab = get_lab(lab) if isinstance(lab, str) else lab
    where = Path(out_dir) / lab.id
    where.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = lab.run(quick, where)
    result.lab, result.quick, result.seconds = lab.id, quick, time.perf_counter() - started
    for stem, svg in result.figures.items():
        path = where / f"{stem}.svg"
        path.write_text(svg)
        result.files[f"figure {stem}"] = str(path)
    result.files["report"] = str(write_lab_report(lab, result, where / "report.html"))
    result.files["result"] = str(where / "result.json")
    (where / "result.json").write_text(json.dumps(result.to_dict(), indent=1))
    return result


def run_all(quick: bool = False, out_dir: str | Path = "runs/labs", names: Sequence[str] | None = None,
            progress: Callable[[Lab, LabResult], None] | None = None) -> list[tuple[Lab, LabResult]]:
    """Run every lab (or those in ``names``); write each lab's directory, ``out_dir/labs.html`` and
    ``out_dir/summary.md``. ``progress`` hears about each finished lab."""
    from trainlab.labs.report import summary_markdown, write_combined_report

    labs = [get_lab(n) for n in names] if names else all_labs()
    done = []
    for lab in labs:
        result = run_lab(lab, quick, out_dir)
        done.append((lab, result))
        if progress is not None:
            progress(lab, result)
    write_combined_report(done, Path(out_dir) / "labs.html")
    (Path(out_dir) / "summary.md").write_text(summary_markdown(done))
    return done


__all__ = ["Check", "Lab", "LabResult", "Row", "all_labs", "get_lab", "run_all", "run_lab", "seeds_phrase"]
