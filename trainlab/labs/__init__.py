"""Labs: each reproduces one claim of the lecture notes (LECTURES.md §2, C1…C25) and says whether it held.

A lab is a :class:`Lab` (its id, the notes' claim, the seed file it comes from, and an
``experiment`` function) defined in its own module ``trainlab/labs/claims/c<NN>_<topic>.py`` by
decorating the experiment with :func:`lab`; modules so named are found on first use, so adding a lab
touches no other file. ``experiment(quick, out_dir, seeds)`` runs every arm once per seed and returns
a :class:`LabResult`: the measured table (each :class:`Row` a named number with the notes' value
beside it where the notes give one), figures as SVG text, the criteria, and a short note. A
criterion is an :class:`~trainlab.labs.verdict.Evidence` (an effect measured per seed, judged by its
median's 95 % interval against a threshold fixed in advance: *reproduced*, *not reproduced* or
*inconclusive*) or, for a computation with no randomness in it, a :class:`Check`. ``quick`` runs a
small variant (at least 3 seeds), the full variant at least 10; ``out_dir`` is where a lab may write
run directories.

:func:`run_lab` runs one lab and writes ``OUT/<id>/``: ``result.json``, one ``.svg`` per figure
and ``report.html``; :func:`run_all` runs several and adds ``OUT/labs.html`` (one combined page)
and ``OUT/summary.md`` (the verdict table of docs/labs.md).

The package only re-exports; the layers point one way: :mod:`~trainlab.labs.verdict` (the interval
and verdict rules) ← :mod:`~trainlab.labs.core` (the types, ``@lab`` and the registry) ←
:mod:`~trainlab.labs.report` (the pages) ← :mod:`~trainlab.labs.runner` (run, write files);
``claims/`` imports the package and is imported by name only, on discovery.

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

from trainlab.labs.core import (
    Check,
    Criterion,
    Experiment,
    Lab,
    LabResult,
    Row,
    Value,
    all_labs,
    get_lab,
    lab,
    seeds_phrase,
    work_dir,
)
from trainlab.labs.runner import run_all, run_lab
from trainlab.labs.verdict import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Evidence

__all__ = ["INCONCLUSIVE", "NOT_REPRODUCED", "REPRODUCED", "Check", "Criterion", "Evidence", "Experiment", "Lab",
           "LabResult", "Row", "Value", "all_labs", "get_lab", "lab", "run_all", "run_lab", "seeds_phrase",
           "work_dir"]
