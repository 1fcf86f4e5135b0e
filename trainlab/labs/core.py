"""The lab types (Row, Check, LabResult, Lab), the ``@lab`` decorator and the registry it fills.

A claim module (``trainlab/labs/claims/c<NN>_<topic>.py``) decorates its experiment with
:func:`lab`; :func:`all_labs` and :func:`get_lab` import every such module on first use and return
what the decorator registered. This module imports nothing else of ``trainlab.labs`` but the
verdict rules; running labs and writing their files is :mod:`trainlab.labs.runner`'s.

A claim module reads::

    @lab(id="C19", name="the bias/variance table", claim="…", measures="…", source="004_95ad34fad61cb9b4.txt")
    def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
        ...

Example::

    >>> c19 = get_lab("c19")
    >>> c19.id, c19.experiment.__module__
    ('C19', 'trainlab.labs.claims.c19_bias_variance')
"""
from __future__ import annotations

import importlib
import math
import pkgutil
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, TypeVar

import torch

from trainlab.errors import TrainlabError, did_you_mean
from trainlab.labs.verdict import NOT_REPRODUCED, REPRODUCED, Evidence, combine

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


Experiment = Callable[[bool, Path | None, tuple[int, ...]], LabResult]


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
    experiment: Experiment
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


# ---- helpers for a lab's experiment

def seeds_phrase(seeds: Sequence[int]) -> str:
    """"seed 0" or "10 seeds (0–9)", for a lab's note."""
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"{len(seeds)} seeds ({min(seeds)}–{max(seeds)})"


@contextmanager
def work_dir(out_dir: Path | None) -> Iterator[Path]:
    """Where an experiment writes run directories: ``out_dir`` (kept, beside the lab's report) when
    the runner gives one, else a temporary directory removed on exit."""
    if out_dir is not None:
        yield Path(out_dir)
        return
    with TemporaryDirectory() as scratch:
        yield Path(scratch)


# ---- the registry

_ID = re.compile(r"C[1-9]\d*")
_REGISTRY: dict[str, tuple[str | None, Lab]] = {}  # id → (the module that registered it, the lab)
_CLAIMS = "trainlab.labs.claims"
_CLAIM_MODULE = re.compile(r"^c\d\d_\w+$")
_claims_imported = False
E = TypeVar("E", bound=Experiment)


def lab(*, id: str, name: str, claim: str, measures: str, source: str,
        quick_seeds: int = 3, full_seeds: int = 10) -> Callable[[E], E]:
    """Register the decorated ``experiment(quick, out_dir, seeds) -> LabResult`` as the :class:`Lab`
    with these fields, and return the function unchanged. The same id registered again by the same
    module replaces the entry (a re-import, a notebook cell run twice); by another module it is a
    ValueError naming both."""
    if not _ID.fullmatch(id):
        raise ValueError(f"lab id {id!r} is not of the form C<number> (C1, C25, …)")

    def register(experiment: E) -> E:
        module = getattr(experiment, "__module__", None)
        taken = _REGISTRY.get(id)
        if taken is not None and taken[0] != module:
            raise ValueError(f"lab {id} is already registered (by {taken[0]}); {module} registers it again")
        _REGISTRY[id] = (module, Lab(id=id, name=name, claim=claim, measures=measures, source=source,
                                     experiment=experiment, quick_seeds=quick_seeds, full_seeds=full_seeds))
        return experiment

    return register


def _discover() -> dict[str, Lab]:
    """Import every claim module once (imported by name, so ``claims`` depends on the framework and
    never the other way), then every registered lab in claim order."""
    global _claims_imported
    if not _claims_imported:
        claims = importlib.import_module(_CLAIMS)
        for info in pkgutil.iter_modules(claims.__path__):
            if _CLAIM_MODULE.match(info.name):
                module = f"{_CLAIMS}.{info.name}"
                importlib.import_module(module)
                if not any(owner == module for owner, _ in _REGISTRY.values()):
                    raise RuntimeError(f"{module} registers no lab: decorate its experiment with @lab(...)")
        _claims_imported = True
    labs = sorted((registered for _, registered in _REGISTRY.values()), key=lambda registered: registered.number)
    return {registered.id: registered for registered in labs}


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
