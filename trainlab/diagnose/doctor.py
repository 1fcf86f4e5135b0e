"""The doctor: run every rule on a run directory, record the findings, write a fixed recipe.

:func:`diagnose` writes the findings to the run's ``findings.json``, which the report renders: a
run calls it as it ends, and ``trainlab doctor RUN_DIR`` rewrites the file. Example::

    findings = diagnose("runs/deep-sigmoid-20261123-101500")
    for finding in findings:
        print(finding.severity, finding.summary)
    fixed = write_fixed_recipe("runs/deep-sigmoid-20261123-101500", findings)   # recipe.fixed.yaml
"""
from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path
from typing import Any

import yaml

from trainlab.diagnose.evidence import RunEvidence
from trainlab.diagnose.findings import SEVERITIES, Finding
from trainlab.diagnose.rules import run_rules
from trainlab.recipe import apply_overrides, validate_recipe
from trainlab.rundir import RunDir


def diagnose(run_dir: str | Path, bayes_error: float = 0.0, write: bool = True, **in_memory: Any) -> list[Finding]:
    """Every rule's findings for the run, most severe first; with ``write`` also written to
    ``run_dir/findings.json`` (replacing it), unless the directory is read-only. ``in_memory``:
    ``recipe``, ``status``, ``weights`` a run ending now holds (:meth:`RunEvidence.load`)."""
    run = RunEvidence.load(run_dir, bayes_error, **in_memory)
    findings = sorted(run_rules(run), key=lambda f: SEVERITIES.index(f.severity))
    if write:
        try:
            RunDir(run_dir).write_findings([f.to_dict() for f in findings])
        except PermissionError:  # someone else's run: the diagnosis still stands, unrecorded
            pass
    return findings


def fixed_recipe(recipe: dict[str, Any], findings: list[Finding]) -> tuple[dict[str, Any], list[str]]:
    """The recipe with the first remedy of every error/warning finding applied (a more severe finding's
    change wins on the same key); returns it and the applied changes as ``key=value`` lines."""
    data = copy.deepcopy(recipe)
    applied: dict[str, Any] = {}
    for finding in findings:
        if finding.severity == "info" or not finding.remedies:
            continue
        for key, value in finding.remedies[0].changes.items():
            applied.setdefault(key, value)
    overrides = [f"{key}={json.dumps(value)}" for key, value in applied.items()]  # JSON is valid YAML
    apply_overrides(data, overrides)
    data["name"] = f"{recipe.get('name', 'run')}-fixed"
    validate_recipe(data)
    return data, overrides


def write_fixed_recipe(run_dir: str | Path, findings: list[Finding]) -> Path | None:
    """Write ``recipe.fixed.yaml`` in the run directory; None when nothing needs fixing."""
    run = RunEvidence.load(run_dir)
    data, applied = fixed_recipe(run.recipe, findings)
    if not applied:
        return None
    header = "# written by `trainlab doctor --fix`; changes: " + "; ".join(applied) + "\n"
    path = RunDir(run_dir).file("recipe.fixed.yaml")
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path


def render_text(findings: list[Finding]) -> str:
    """The findings as the terminal shows them."""
    if not findings:
        return "no findings: this run looks healthy"
    lines = []
    for finding in findings:
        lines.append(f"{finding.severity.upper()}: {finding.name}: {finding.summary}")
        if finding.confidence is not None:
            lines.append(f"  confidence: {finding.confidence.text()}")
        lines.append(f"  why: {finding.explanation}")
        evidence = ", ".join(f"{k}={_short(v)}" for k, v in finding.evidence.items())
        lines.append(f"  evidence: {evidence}")
        for i, remedy in enumerate(finding.remedies, 1):
            lines.append(f"  fix {i}: {' '.join('--set ' + shlex.quote(o) for o in remedy.as_overrides())}  ({remedy.why})")
    return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)
