"""The command line as a new user meets it: help, list, run, demo, and errors without tracebacks."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trainlab import registry
from trainlab.cli import main
from trainlab.commands.demo import demo_recipe_path
from trainlab.recipe import load_recipe

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "demo", "list"):
        assert command in out


def test_list_shows_every_registered_name_with_a_description(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for table in registry.ALL.values():
        for entry in table:
            assert entry.name in out
            assert entry.description, f"{table.kind} '{entry.name}' has no description"


def test_list_of_one_kind_accepts_singular_and_rejects_unknown(capsys):
    assert main(["list", "optimizer"]) == 0
    out = capsys.readouterr().out
    assert "adam" in out and "mnist1d" not in out
    assert main(["list", "optimisers"]) == 2
    assert "known kinds" in capsys.readouterr().err


def test_bad_recipe_gives_one_line_per_problem_and_exit_2(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(yaml.safe_dump({"data": {"name": "mnist1d"}, "optim": {"name": "adamm", "lr": -1},
                                      "stoping": {"epochs": 3}}))
    process = subprocess.run([sys.executable, "-m", "trainlab", "run", str(recipe)],
                             check=False, capture_output=True, text=True, timeout=120)
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    lines = process.stderr.strip().splitlines()
    assert any("optim.name: 'adamm' is not a known optimizer; did you mean 'adam'?" in line for line in lines)
    assert any(line.startswith("error: optim.lr") for line in lines)
    assert any("stoping" in line and "stopping" in line for line in lines)


def test_bad_override_names_the_key(tmp_path, capsys):
    assert main(["run", str(EXAMPLES[0]), "--set", "optim.lr=fast", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "optim.lr" in err and "fast" in err


def test_missing_recipe_file_is_a_clear_error(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_run_with_override_writes_a_run_directory(tmp_path, capsys):
    moons = next(p for p in EXAMPLES if p.stem == "moons_sgd")
    assert main(["run", str(moons), "--set", "stopping.epochs=2", "--runs-dir", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out
    run_dir = next(tmp_path.iterdir())
    assert {"recipe.yaml", "metrics.csv", "report.html", "run.json", "checkpoints"} <= {p.name for p in run_dir.iterdir()}
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 1 + 2  # header + 2 epochs


def test_unwritable_runs_dir_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    moons = next(p for p in EXAMPLES if p.stem == "moons_sgd")
    assert main(["run", str(moons), "--set", "stopping.epochs=1", "--runs-dir", str(blocker), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "file" in err


@pytest.mark.parametrize("path", EXAMPLES + [demo_recipe_path()], ids=lambda p: p.stem)
def test_shipped_recipes_validate(path):
    load_recipe(path)


def test_version_is_the_installed_package_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"trainlab {version('trainlab')}"


def test_the_cli_mirrors_the_api():
    import trainlab
    from trainlab.diagnose.doctor import diagnose
    from trainlab.labs import run_lab
    from trainlab.tools.compare import compare
    from trainlab.tools.lr_find import lr_find
    from trainlab.tools.search import search

    # command → the public function (or class) it runs
    assert (trainlab.run_recipe, trainlab.resume_run, trainlab.doctor, trainlab.compare, trainlab.search,
            trainlab.lr_find, trainlab.run_lab) == (trainlab.run.run_recipe, trainlab.run.resume_run, diagnose,
                                                    compare, search, lr_find, run_lab)
    assert trainlab.Predictor.__name__ == "Predictor" and callable(trainlab.build)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        trainlab.nothing
