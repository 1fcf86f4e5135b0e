"""The command line starts fast: building the parser (--help, --version) imports no torch, `list` only
the catalogue, and the lazy package exports still resolve. Import checks, not timings: a timed test
would fail on a busy machine; benchmarks/README.md records the measured wall times."""
from __future__ import annotations

import subprocess
import sys

import pytest

import trainlab
from trainlab.commands import search as search_command


def _imported(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code`` (which must not exit)."""
    script = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return set(result.stdout.split())


def _imported_by_cli(*args: str) -> set[str]:
    """The modules ``trainlab ARGS`` imports, from ``python -X importtime`` (the command may exit)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "trainlab", *args], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


def test_building_the_parser_imports_no_torch():
    modules = _imported("import trainlab.cli; trainlab.cli.parser()")
    assert "torch" not in modules
    assert not {"scipy", "sklearn", "matplotlib", "optuna", "rich"} & modules


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("run", "--help")], ids=" ".join)
def test_help_and_version_import_no_torch(args):
    modules = _imported_by_cli(*args)
    assert "trainlab.cli" in modules and "torch" not in modules


def test_list_imports_the_catalogue_but_no_experiment_tools():
    modules = _imported_by_cli("list", "schedules")
    assert "trainlab.optim.schedules" in modules
    assert not {"scipy", "sklearn", "matplotlib", "optuna", "trainlab.run"} & modules


def test_a_table_loads_the_catalogue_on_first_use():
    modules = _imported("import trainlab.registry as r; assert 'adam' in r.optimizers and len(r.activations) > 5")
    assert "trainlab.optim.optimizers" in modules and "trainlab.nn.activations" in modules


def test_every_lazy_export_resolves():
    assert sorted(trainlab.__all__) == sorted(trainlab._EXPORTS)
    for name in trainlab.__all__:
        assert callable(getattr(trainlab, name)), name
    assert trainlab.doctor.__name__ == "diagnose" and trainlab.nn.__name__ == "trainlab.nn"
    with pytest.raises(AttributeError, match="no attribute 'fit_everything'"):
        trainlab.fit_everything  # noqa: B018


def test_the_commands_copies_of_tool_names_match_the_tools():
    from trainlab.tools.search import STRATEGIES

    assert search_command.STRATEGIES == STRATEGIES
