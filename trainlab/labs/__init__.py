"""Labs: each reproduces one claim of the lecture notes (LECTURES.md §2, C1…C25) and says whether it held.

A lab is a :class:`Lab` (its id, the notes' claim, the seed file it comes from, and an
``experiment`` function) living in its own module ``trainlab/labs/c<N>_<topic>.py`` as the
module-level ``LAB``; modules so named are found on first use, so adding a lab touches no other file.
``experiment(quick, out_dir, seeds)`` runs every arm once per seed and returns a :class:`LabResult`:
the measured table (each :class:`Row` a named number with the notes' value beside it where the notes
give one), figures as SVG text, the criteria, and a short note. A criterion is an
:class:`~trainlab.labs.verdict.Evidence` (an effect measured per seed, judged by its median's 95 %
interval against a threshold fixed in advance: *reproduced*, *not reproduced* or *inconclusive*) or,
for a computation with no randomness in it, a :class:`Check`. ``quick`` runs a small variant (at
least 3 seeds), the full variant at least 10; ``out_dir`` is where a lab may write run directories.

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
from trainlab.labs.verdict import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Evidence, combine

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
    """A criterion with no randomness in it (an exact computation, a table of the notes), stated with
    its numbers (``text``), and whether it holds. Anything measured on trained networks is an
    :class:`Evidence` over seeds instead."""

    text: str
    passed: bool

    @property
    def verdict(self) -> str:
        return REPRODUCED if self.passed else NOT_REPRODUCED

    def summary(self) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "verdict": self.verdict}


Criterion = Check | Evidence


@dataclass
class LabResult:
    """What a lab measured. The verdict is *reproduced* when every criterion is, *not reproduced* when
    any is not, *inconclusive* otherwise."""

    rows: list[Row]
    checks: list[Criterion]
    figures: dict[str, str] = field(default_factory=dict)  # file stem → SVG text
    note: str = ""
    lab: str = ""  # filled in by run_lab
    quick: bool = False
    seeds: tuple[int, ...] = ()  # filled in by Lab.run
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # what run_lab wrote: kind → path

    @property
    def reproduced(self) -> bool:
        return self.verdict == REPRODUCED

    @property
    def verdict(self) -> str:
        return combine(c.verdict for c in self.checks)

    def criterion(self, text: str) -> Criterion:
        """The criterion whose text is ``text``, or else the one that starts with it; a KeyError
        listing the criteria otherwise."""
        matches = [c for c in self.checks if c.text == text] or [c for c in self.checks if c.text.startswith(text)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} criteria start with {text!r}; criteria: {[c.text for c in self.checks]}")
        return matches[0]

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

        return {"lab": self.lab, "quick": self.quick, "seeds": list(self.seeds), "seconds": round(self.seconds, 3),
                "verdict": self.verdict,
                "rows": [{"name": r.name, "measured": plain(r.measured), "expected": plain(r.expected),
                          "reference": r.reference} for r in self.rows],
                "criteria": [c.to_dict() for c in self.checks],
                "note": self.note, "files": self.files}


@dataclass(frozen=True)
class Lab:
    """One lecture claim as an experiment: ``id`` ("C1"), a short ``name``, the notes' ``claim``,
    what the lab ``measures``, the ``source`` seed file and
    ``experiment(quick, out_dir, seeds) -> LabResult``, which :meth:`run` calls with seeds 0 … n−1
    (n: ``quick_seeds`` ≥ 3 or ``full_seeds`` ≥ 10 unless the caller asks for another number; a lab
    with no randomness in it, such as C19, ignores them)."""

    id: str
    name: str
    claim: str
    measures: str
    source: str
    experiment: Callable[[bool, Path | None, tuple[int, ...]], LabResult]
    quick_seeds: int = 3
    full_seeds: int = 10

    @property
    def number(self) -> int:
        return int(self.id[1:])

    def run(self, quick: bool = False, out_dir: Path | None = None, seeds: int | None = None) -> LabResult:
        """Run the experiment over ``seeds`` seeds (default: ``quick_seeds`` or ``full_seeds``) on one
        CPU thread, so that a rerun on the same machine repeats every number (the thread count is
        restored afterwards). One thread does not make numbers equal across machines: the CPU's kernel
        set (AVX-512, AVX2, plain) changes float sums too, which is why verdicts come from several seeds."""
        count = seeds if seeds is not None else self.quick_seeds if quick else self.full_seeds
        if count < 1:
            raise TrainlabError(f"lab {self.id}: --seeds must be at least 1, got {count}")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            result = self.experiment(quick, out_dir, tuple(range(count)))
        finally:
            torch.set_num_threads(threads)
        result.seeds = tuple(range(count))
        return result


def seeds_phrase(seeds: Sequence[int]) -> str:
    """"seed 0" or "10 seeds (0–9)", for a lab's note."""
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"{len(seeds)} seeds ({min(seeds)}–{max(seeds)})"


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


def run_lab(lab: Lab | str, quick: bool = False, out_dir: str | Path = "runs/labs", seeds: int | None = None) -> LabResult:
    """Run one lab (over ``seeds`` seeds, default the lab's own); write ``out_dir/<id>/`` (result.json,
    the figures as .svg, report.html)."""
    from trainlab.labs.report import write_lab_report

    lab = get_lab(lab) if isinstance(lab, str) else lab
    where = Path(out_dir) / lab.id
    where.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = lab.run(quick, where, seeds)
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
            progress: Callable[[Lab, LabResult], None] | None = None,
            seeds: int | None = None) -> list[tuple[Lab, LabResult]]:
    """Run every lab (or those in ``names``); write each lab's directory, ``out_dir/labs.html`` and
    ``out_dir/summary.md``. ``progress`` hears about each finished lab."""
    from trainlab.labs.report import summary_markdown, write_combined_report

    labs = [get_lab(n) for n in names] if names else all_labs()
    done = []
    for lab in labs:
        result = run_lab(lab, quick, out_dir, seeds)
        done.append((lab, result))
        if progress is not None:
            progress(lab, result)
    write_combined_report(done, Path(out_dir) / "labs.html")
    (Path(out_dir) / "summary.md").write_text(summary_markdown(done))
    return done


__all__ = ["INCONCLUSIVE", "NOT_REPRODUCED", "REPRODUCED", "Check", "Criterion", "Evidence", "Lab", "LabResult", "Row",
           "all_labs", "get_lab", "run_all", "run_lab", "seeds_phrase"]
