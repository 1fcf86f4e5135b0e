"""The architecture holds: imports go one way down the layers (pyproject's import-linter contract)
and no trainlab module is part of an import circle."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def test_imports_keep_the_layer_contract():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def import_cycles(package: str) -> list[list[str]]:
    """The strongly connected components (Tarjan) of more than one module in ``package``'s import
    graph: each is a set of modules that import one another, directly or through each other."""
    graph = grimp.build_graph(package, include_external_packages=False)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(module: str) -> None:  # recursive: depth at most the number of modules (~120)
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_circles():
    assert import_cycles("trainlab") == []


def test_probe_defaults_are_the_recipes():
    # probes no longer import the recipe for its default; the recipe builds Probes with its own values
    import inspect

    from trainlab.diagnose.probes import Probes
    from trainlab.recipe import DiagnoseSpec

    defaults = {k: p.default for k, p in inspect.signature(Probes).parameters.items() if k != "run_dir"}
    assert defaults == {k: DiagnoseSpec.model_fields[k].default for k in defaults}


def test_the_report_renders_the_findings_the_run_recorded(tiny_recipe, tmp_path, monkeypatch):
    from trainlab.recipe import load_recipe
    from trainlab.report.html import write_report
    from trainlab.run import run_recipe
    from trainlab.rundir import RunDir

    run = RunDir(run_recipe(load_recipe(tiny_recipe), tmp_path).run_dir)
    assert run.findings()["format"] == 1 and "findings" in run.findings()  # written as the run ended
    run.write_findings([{"name": "marker", "severity": "warning", "summary": "a recorded finding", "evidence": {},
                         "explanation": "from findings.json", "remedies": [], "confidence": None}])

    def no_doctor(*args, **kwargs):
        raise AssertionError("the report ran the doctor")

    monkeypatch.setattr("trainlab.diagnose.doctor.diagnose", no_doctor)
    assert "a recorded finding" in write_report(run.path).read_text()
    run.file("findings.json").unlink()  # a run directory from before findings.json
    assert "no findings.json" in write_report(run.path).read_text()
