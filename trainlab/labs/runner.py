"""Run labs and write what they found: ``OUT/<id>/`` per lab, ``OUT/labs.html`` and ``OUT/summary.md``.

The layer above :mod:`trainlab.labs.core` (the types and the registry) and
:mod:`trainlab.labs.report` (the pages); nothing in ``trainlab.labs`` imports it back.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from trainlab.labs.core import Lab, LabResult, all_labs, get_lab
from trainlab.labs.report import summary_markdown, write_combined_report, write_lab_report


def run_lab(lab: Lab | str, quick: bool = False, out_dir: str | Path = "runs/labs", seeds: int | None = None) -> LabResult:
    """Run one lab (over ``seeds`` seeds, default the lab's own); write ``out_dir/<id>/`` (result.json,
    the figures as .svg, report.html)."""
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
