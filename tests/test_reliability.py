"""Issue 14, "nothing lost, nothing silently wrong": one regression test per case (numbered as in the
issue; 4, 5, 8 and 11 are predict's, in tests/test_predict.py), issue 13 point 7 (overrides on
sections a recipe leaves out) and the command line's error boundary."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import torch
import yaml

from trainlab.cli import main
from trainlab.errors import RecipeError, TrainlabError
from trainlab.recipe import load_recipe, validate_recipe
from trainlab.run import run_recipe
from trainlab.rundir import RunDir, stamped_dir
from trainlab.safety.locks import exclusive
from trainlab.safety.redaction import redact
from trainlab.tools.comparison import comparison_from_args
from trainlab.tools.lr_find import apply_to_recipe_file
from trainlab.tools.space import apply_values, check_space, load_space
from trainlab.train.checkpoint import load_checkpoint

RECIPE = {"name": "tiny", "seed": 0,
          "data": {"name": "moons", "n_samples": 120, "batch_size": 32},
          "model": {"name": "mlp", "hidden": [8]},
          "optim": {"name": "adam", "lr": 0.01},
          "stopping": {"epochs": 4}, "checkpoint": {"every": 1}}


def write(tmp_path: Path, recipe: dict, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def cli(capsys, *args: str) -> tuple[int, list[str]]:
    """Run ``trainlab ARGS`` in this process: the exit code and stderr's lines."""
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err.strip().splitlines()


def one_line_error(lines: list[str]) -> str:
    """The single ``error:`` line of stderr (warnings before it allowed), never a traceback."""
    assert not any("Traceback" in line for line in lines), lines
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, lines
    return errors[0]


def killed_run(tmp_path: Path, recipe: dict = RECIPE) -> Path:
    """A finished run marked as killed (status running), so --resume continues it."""
    run_dir = run_recipe(validate_recipe(recipe), tmp_path / "runs").run_dir
    status = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**status, "status": "running"}))
    return run_dir


# ---- 1. resume refuses an edited recipe.yaml; safe changes only on the command line ----


def test_1_resume_refuses_an_edited_recipe_with_the_diff(tmp_path, capsys):
    run_dir = killed_run(tmp_path)
    recipe_file = run_dir / "recipe.yaml"
    original = recipe_file.read_text()
    recipe_file.write_text(original.replace("seed: 0", "seed: 1"))
    code, lines = cli(capsys, "run", "--resume", str(run_dir))
    assert code == 2
    assert "recipe.yaml changed since the run started (seed: 0 → 1)" in one_line_error(lines)


def test_1_resume_accepts_safe_changes_explicitly_and_logs_them(tmp_path, capsys):
    run_dir = killed_run(tmp_path)
    code, lines = cli(capsys, "run", "--resume", str(run_dir), "--set", "optim.lr=0.1")
    assert code == 2 and "--set optim.lr: not safe to change in the middle of a run" in one_line_error(lines)
    code, lines = cli(capsys, "run", "--resume", str(run_dir), "--set", "stopping.epochs=3")
    assert code == 2 and "4 epochs are done already" in one_line_error(lines)

    assert cli(capsys, "run", "--resume", str(run_dir), "--set", "stopping.epochs=6", "--quiet")[0] == 0
    run = RunDir(run_dir)
    assert len(run.metrics()) == 6 and run.recipe().stopping.epochs == 6
    changed = [e for e in run.events() if e["event"] == "recipe_changed"]
    assert [e["changes"] for e in changed] == [["stopping.epochs: 4 → 6"]]
    assert run.status()["recipe_changes"][0]["changes"] == ["stopping.epochs: 4 → 6"]
    # the changed recipe.yaml is now the recorded one: a plain --resume of it would be accepted
    assert run.status()["recipe"]["stopping"]["epochs"] == 6


# ---- 2. one process per run directory ----


def test_2_a_second_process_in_a_run_directory_is_refused_naming_the_holder(tmp_path, capsys):
    run_dir = killed_run(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys, time\nfrom trainlab.safety.locks import exclusive\n"
         "with exclusive(sys.argv[1], 'a test'):\n    print('held', flush=True)\n    time.sleep(60)"), str(run_dir)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, lines = cli(capsys, "run", "--resume", str(run_dir))
        assert code == 2
        assert f"is in use by process {holder.pid} on " in one_line_error(lines)
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock with the process
        holder.wait()
    with exclusive(run_dir, "the test, after the holder was killed"):
        pass


# ---- 3. passwords never written or printed ----

SECRET_URL = "postgresql://trainlab:S3CRETpw@db.example:5432/study"


def test_3_redaction_of_uris():
    assert redact(f"--storage {SECRET_URL}") == "--storage postgresql://trainlab:***@db.example:5432/study"
    assert redact("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"  # up to the last @ of the host part
    assert redact("mysql://u@h/db?password=x&ssl=1") == "mysql://u@h/db?password=***&ssl=1"
    assert redact("sqlite:///runs/study.db") == "sqlite:///runs/study.db"


def test_3_run_json_and_comparison_json_hide_the_password(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["trainlab", "search", "r.yaml", "--storage", SECRET_URL])
    run_dir = run_recipe(validate_recipe({**RECIPE, "stopping": {"epochs": 1}}), tmp_path / "runs").run_dir
    assert "S3CRETpw" not in (run_dir / "run.json").read_text()
    assert RunDir(run_dir).status()["command"][-1] == "postgresql://trainlab:***@db.example:5432/study"

    from trainlab.tools.compare import open_comparison_dir

    comparison = comparison_from_args(write(tmp_path, RECIPE), ["optim.lr=0.1,0.01"], 1, [])
    out = open_comparison_dir(comparison, tmp_path / "cmp")
    assert "S3CRETpw" not in (out / "comparison.json").read_text()


def test_3_search_errors_and_logs_hide_the_password(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("optim.lr: {loguniform: [0.001, 0.1]}\n")
    code = main(["search", str(write(tmp_path, RECIPE)), "--space", str(space), "--trials", "1",
                 "--out", str(tmp_path / "search"), "--storage", "postgresql://u:S3CRETpw@127.0.0.1:1/db"])
    captured = capsys.readouterr()
    assert code == 2  # no server on port 1 (or no driver): a one-line error either way
    assert "S3CRETpw" not in captured.err + captured.out and "u:***@127.0.0.1:1/db" in captured.err


# ---- 6. the alias bomb ----

BOMB = "\n".join(["a: &a [1,1,1,1,1,1,1,1,1]"] + [f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]"
                                                  for p, c in zip("abcdefgh", "bcdefghi")])


def test_6_alias_bomb_ends_fast_in_one_bounded_line(tmp_path, capsys):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB + "\nname: t\ndata: {name: moons}\nstopping: {epochs: *i}\n")
    assert len(bomb.read_bytes()) < 512
    started = time.perf_counter()
    code, lines = cli(capsys, "run", str(bomb))
    assert time.perf_counter() - started < 1.0  # measured ~2 ms for the check; the budget covers a busy machine
    assert code == 2
    line = one_line_error(lines)
    assert "aliases expand the document to 926177123 values from 37 written" in line and len(line) < 400


def test_6_a_huge_value_is_shown_cut_short(tmp_path):
    with pytest.raises(RecipeError) as caught:
        load_recipe({**RECIPE, "stopping": {"epochs": ["x" * 10_000] * 1000}})
    assert all(len(p) <= 400 for p in caught.value.problems)


# ---- 7. lr-find --apply --in-place twice keeps every original ----


def test_7_in_place_twice_never_overwrites_a_backup(tmp_path):
    recipe = write(tmp_path, RECIPE, "moons.yaml")
    original = recipe.read_text() + "# a comment only the backup keeps\n"
    recipe.write_text(original)
    apply_to_recipe_file(recipe, 0.05, in_place=True)
    first = recipe.read_text()
    apply_to_recipe_file(recipe, 0.02, in_place=True)
    assert (tmp_path / "moons.yaml.bak").read_text() == original
    assert (tmp_path / "moons.yaml.bak.1").read_text() == first
    assert load_recipe(recipe).optim.lr == 0.02


# ---- 9. metric names checked before training ----


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("checkpoint.keep_best", "val_los",
     "checkpoint.keep_best: 'val_los' is not a logged metric; did you mean 'val_loss'?"),
    ("stopping.early.monitor", "val_acc", "stopping.early.monitor: 'val_acc' is not a logged metric"),
    ("schedule", "{name: plateau, monitor: accuracyy}", "schedule.monitor: 'accuracyy' is not a logged metric"),
])
def test_9_logged_metric_typos_fail_before_any_epoch(tmp_path, capsys, key, value, expected):
    code, lines = cli(capsys, "run", str(write(tmp_path, RECIPE)), "--set", f"{key}={value}",
                      "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and one_line_error(lines).startswith(f"error: {expected}")
    assert not (tmp_path / "runs").exists()  # refused before the run directory, let alone an epoch


def test_9_val_metric_without_a_validation_split(tmp_path):
    with pytest.raises(RecipeError, match="there is no validation split"):
        run_recipe(load_recipe(RECIPE, ["data.val_fraction=0", "checkpoint.keep_best=val_loss"]), tmp_path)


# ---- 10 and 12. one-line errors instead of tracebacks, and the right message ----


@pytest.mark.parametrize(("override", "expected"), [
    ("model.hidden=[-3]", "model: a size is negative"),
    ("model.hidden=[0]", "model: layer sizes of 0"),
    ("seed=1e20", ("seed: '1e20' is not valid: Input should be a valid integer, unable to parse string as an "
                  "integer; accepted: >= 0 and <= 4294967295")),
    ("seed=1.0e+20", "accepted: >= 0 and <= 4294967295"),
    ("model.hidden=[1000000,1000000]", "model: the sizes ask for more memory than this machine has"),  # 4 TB
    ("optim.lr=.inf", "optim.lr: inf is not valid: Input should be a finite number"),
    ("optim.lr=.nan", "optim.lr: nan is not valid: Input should be a finite number"),
    ("optim={name: sgd, momentum: .inf}", "optim.momentum: inf is not valid: Input should be a finite number"),
    ("stopping.epochs=true", "stopping.epochs: True is not valid: expected a number, not true/false"),
    ("model.batchnorm=1", "model.batchnorm: 1 is not valid: Input should be a valid boolean"),
    ("penalties=[{name: l2, wieght: 0.1}]", ("penalties.0.wieght: unknown parameter of penalty 'l2'; did you mean "
                                            "'weight'? Accepted: weight, per_layer")),
])
def test_10_13_bad_values_end_in_one_line(tmp_path, capsys, override, expected):
    code, lines = cli(capsys, "run", str(write(tmp_path, RECIPE)), "--set", override,
                      "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and expected in one_line_error(lines)


def test_12_out_of_memory_is_not_called_a_shape_mismatch(tmp_path, capsys):
    code, lines = cli(capsys, "run", str(write(tmp_path, RECIPE)), "--set", "model.hidden=[1000000,1000000]")
    line = one_line_error(lines)
    assert code == 2 and "memory" in line and "cannot take inputs of shape" not in line


def test_10_12_recipe_files_that_cannot_be_read(tmp_path, capsys):
    code, lines = cli(capsys, "run", str(tmp_path))
    assert code == 2 and one_line_error(lines) == f"error: recipe file {tmp_path} is a directory, not a file"
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("name: caf\xe9\ndata: {name: moons}\n".encode("latin-1"))
    code, lines = cli(capsys, "run", str(latin))
    assert code == 2
    assert one_line_error(lines) == f"error: recipe file {latin} is not UTF-8 text (byte 9: 0xe9); save it as UTF-8"


def test_13_duplicate_keys_are_refused_with_both_lines(tmp_path, capsys):
    path = tmp_path / "dup.yaml"
    path.write_text("name: t\ndata: {name: moons}\noptim:\n  name: sgd\n  lr: 0.1\n  lr: 0.01\n")
    code, lines = cli(capsys, "run", str(path))
    assert code == 2
    assert one_line_error(lines) == f"error: {path}: line 6: key 'lr' given twice (first at line 5); keep one"


def test_10_truncated_run_json_in_resume_doctor_predict_and_report(tmp_path, capsys):
    run_dir = killed_run(tmp_path)
    text = (run_dir / "run.json").read_text()
    (run_dir / "run.json").write_text(text[: len(text) // 2])
    data = tmp_path / "x.csv"
    data.write_text("0.1,0.2\n")
    for command in (["run", "--resume", str(run_dir)], ["doctor", str(run_dir)], ["predict", str(run_dir), str(data)]):
        code, lines = cli(capsys, *command)
        assert code == 2, command
        line = one_line_error(lines)
        assert line.startswith(f"error: run.json {run_dir / 'run.json'} is truncated or damaged"), command
    from trainlab.report.html import write_report

    with pytest.raises(TrainlabError, match="run.json .* is truncated or damaged"):
        write_report(run_dir)


def test_10_truncated_mnist1d_cache_is_rebuilt_and_named(tmp_path, monkeypatch, capsys):
    from trainlab.data import datasets

    monkeypatch.setenv("TRAINLAB_CACHE", str(tmp_path))
    expected = datasets.mnist1d(seed=0, num_samples=200)
    (cached,) = tmp_path.rglob("mnist1d-*.npz")
    cached.write_bytes(cached.read_bytes()[:300])
    capsys.readouterr()
    rebuilt = datasets.mnist1d(seed=0, num_samples=200)
    assert f"note: the cached data set {cached} is damaged" in capsys.readouterr().err
    assert (rebuilt.x == expected.x).all() and (rebuilt.y == expected.y).all()
    datasets.mnist1d(seed=0, num_samples=200)  # the rebuilt cache reads without a note
    assert capsys.readouterr().err == ""


def test_10_another_runs_checkpoint_in_predict(tmp_path, capsys):
    ours = run_recipe(validate_recipe({**RECIPE, "stopping": {"epochs": 1}}), tmp_path / "a").run_dir
    theirs = run_recipe(load_recipe(RECIPE, ["model.hidden=[5, 5]", "stopping.epochs=1"]), tmp_path / "b").run_dir
    data = tmp_path / "x.csv"
    data.write_text("0.1,0.2\n")
    code, lines = cli(capsys, "predict", str(ours), str(data), "--checkpoint",
                      str(theirs / "checkpoints" / "epoch-0001.json"), "--out", str(tmp_path / "p.csv"))
    assert code == 2 and one_line_error(lines)


def test_10_corrupt_comparison_json(tmp_path, capsys):
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "comparison.json").write_text('{"format": 1, "recipe": {"na')
    code, lines = cli(capsys, "compare", "--resume", str(out))
    assert code == 2 and "comparison.json" in one_line_error(lines) and "truncated or damaged" in lines[0]
    (out / "comparison.json").write_text('{"format": 1}')
    code, lines = cli(capsys, "compare", "--resume", str(out))
    assert code == 2 and "is damaged (it lacks the recipe" in one_line_error(lines)


def test_12_ctrl_c_names_the_run_directory(tmp_path, capsys, monkeypatch):
    from trainlab.train.trainer import Trainer

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "fit", interrupted)
    code, lines = cli(capsys, "run", str(write(tmp_path, RECIPE)), "--runs-dir", str(tmp_path / "runs"))
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert code == 130 and lines[-1] == f"interrupted; resume with: trainlab run --resume {run_dir.resolve()}"


# ---- 14. a damaged newest checkpoint: resume from the newest valid one ----


def test_14_resume_falls_back_to_the_newest_valid_checkpoint(tmp_path, capsys):
    run_dir = killed_run(tmp_path)
    checkpoints = run_dir / "checkpoints"
    expected, _ = load_checkpoint(checkpoints / "epoch-0004.json")
    damaged = checkpoints / "epoch-0004.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    leftover = checkpoints / ".epoch-0004.safetensors.12345.tmp"  # a write a crash interrupted
    leftover.write_bytes(b"partial")
    code, lines = cli(capsys, "run", "--resume", str(run_dir), "--quiet")
    assert code == 0, lines
    assert lines == [(f"warning: skipping damaged checkpoint epoch-0004.json: checkpoint file {damaged} is truncated "
                     "or modified (checksum mismatch); resuming from epoch-0003.json")]
    assert not leftover.exists()
    assert (checkpoints / "epoch-0004.safetensors.damaged").exists()  # kept for inspection, never resumed from
    got, _ = load_checkpoint(checkpoints / "epoch-0004.json")
    assert all(torch.equal(got[k], expected[k]) for k in expected)  # epoch 4 retrained exactly
    skipped = [e for e in RunDir(run_dir).events() if e["event"] == "checkpoint_skipped"]
    assert [e["resumed_from"] for e in skipped] == ["epoch-0003.json"]


# ---- 15. the run-directory name race ----


def test_15_many_threads_make_distinct_directories_of_one_name(tmp_path):
    made: list[Path] = []
    start = threading.Barrier(64)

    def make() -> None:
        start.wait()
        made.append(stamped_dir(tmp_path, "same"))

    threads = [threading.Thread(target=make) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 64 and len(set(made)) == 64 and all(p.is_dir() for p in made)


def test_15_many_processes_make_distinct_directories_of_one_name(tmp_path):
    with ProcessPoolExecutor(8) as pool:
        made = list(pool.map(stamped_dir, [tmp_path] * 200, ["same"] * 200))
    assert len(set(made)) == 200 and len(list(tmp_path.iterdir())) == 200


# ---- issue 13 point 7: --set, --vary and search keys on sections the recipe leaves out ----

BARE = {"name": "bare", "data": {"name": "moons", "n_samples": 120}, "model": {"name": "mlp", "hidden": [8]},
        "stopping": {"epochs": 1}}


def test_overrides_fill_a_left_out_section_from_the_recipe_defaults():
    recipe = load_recipe(BARE, ["optim.lr=0.01", "schedule.warmup=2"])
    assert (recipe.optim.name, recipe.optim.lr) == ("adam", 0.01)
    assert (recipe.schedule.name, recipe.schedule.warmup) == ("constant", 2)
    assert load_recipe({k: v for k, v in BARE.items() if k != "model"}, ["model.hidden=[4]"]).model.name == "mlp"


def test_vary_and_search_keys_on_a_left_out_section(tmp_path):
    recipe_file = write(tmp_path, BARE)
    comparison = comparison_from_args(recipe_file, ["optim.lr=0.1,0.01"], 1, [])
    assert [comparison.recipe_of(r).optim.lr for r in comparison.plan()] == [0.1, 0.01]
    space_file = tmp_path / "space.yaml"
    space_file.write_text("optim.lr: {loguniform: [0.001, 0.1]}\n")
    space = load_space(space_file)
    check_space(space, BARE)
    assert validate_recipe(apply_values(BARE, {"optim.lr": 0.05})).optim.name == "adam"


@pytest.mark.slow  # ~30 s: worker processes
def test_compare_vary_on_a_left_out_section_runs(tmp_path):
    recipe_file = write(tmp_path, BARE)
    assert main(["compare", str(recipe_file), "--vary", "optim.lr=0.1,0.01", "--seeds", "1", "--workers", "1",
                 "--out", str(tmp_path / "cmp"), "--quiet"]) == 0


# ---- the error boundary ----


def test_error_boundary_exit_codes_and_debug(tmp_path, capsys, monkeypatch):
    def crash(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("trainlab.cli.parser", _parser_with({"doctor": crash}))
    code, lines = cli(capsys, "doctor", "x")
    assert code == 1 and lines == [("internal error: ZeroDivisionError: division by zero; rerun with --debug for "
                                   "the traceback")]
    code, lines = cli(capsys, "--debug", "doctor", "x")
    assert code == 1 and lines[0] == "Traceback (most recent call last):" and lines[-1].startswith("internal error")

    def no_file(args):
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / "gone.csv"))

    monkeypatch.setattr("trainlab.cli.parser", _parser_with({"doctor": no_file}))
    code, lines = cli(capsys, "doctor", "x")
    assert code == 1 and lines == [f"error: No such file or directory ({tmp_path / 'gone.csv'})"]

    def no_memory(args):
        raise MemoryError

    monkeypatch.setattr("trainlab.cli.parser", _parser_with({"doctor": no_memory}))
    assert cli(capsys, "doctor", "x")[0] == 1


def _parser_with(handlers: dict):
    """trainlab's parser with the named commands' handlers replaced (a crash injected for the test)."""
    from trainlab import cli as cli_module

    real = cli_module.parser

    def patched():
        built = real()
        for action in built._subparsers._group_actions:
            for name, handler in handlers.items():
                action.choices[name].set_defaults(handler=handler)
        return built

    return patched


def test_error_lines_are_bounded_and_counted(tmp_path, capsys):
    recipe = {**RECIPE, **{f"unknown_{i}_{'x' * 500}": i for i in range(40)}}
    code, lines = cli(capsys, "run", str(write(tmp_path, recipe)))
    assert code == 2 and len(lines) == 31 and lines[-1] == "error: … and 10 more"
    assert all(len(line) <= 400 for line in lines)


def test_locks_do_not_survive_sigkill(tmp_path):
    script = ("import os, sys\nfrom trainlab.safety.locks import exclusive\n"
              "with exclusive(sys.argv[1], 'x'):\n    print('held', flush=True)\n    os.kill(os.getpid(), 9)")
    process = subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=False, capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert process.stdout.strip() == "held" and process.returncode == -9
    with exclusive(tmp_path, "after the SIGKILL"):  # free again at once
        pass


def test_reliability_md_python_example_prints_what_it_says():
    import re

    text = (Path(__file__).parent.parent / "docs" / "reliability.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    process = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert process.returncode == 0, process.stderr
    promised = " ".join(line[2:] for line in code.splitlines() if line.startswith("# "))
    assert " ".join(process.stdout.split()) == " ".join(promised.split())


# ---- 20 SIGKILLs at random moments of run, compare and search; every result as if never killed ----

KILL_RECIPE = {"name": "kill", "seed": 3,
               "data": {"name": "moons", "n_samples": 1500, "batch_size": 16, "preprocess": "zscore"},
               "model": {"name": "mlp", "hidden": [32, 32], "dropout": 0.1},
               "optim": {"name": "adam", "lr": 0.003}, "schedule": {"name": "step", "step_size": 2, "gamma": 0.5},
               "stopping": {"epochs": 6}, "checkpoint": {"every": 1, "every_steps": 17}}
# Training is most of each command's time (~1 s per epoch), so most kills land inside an epoch; the
# rest land in start-up, between runs or while reports are written: random moments all the same.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _trainlab(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "trainlab", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def _finish(*args: str) -> float:
    """Run ``trainlab ARGS`` to its end (exit 0); its wall time."""
    started = time.perf_counter()
    process = _trainlab(*args)
    _, err = process.communicate(timeout=900)
    assert process.returncode == 0, err
    return time.perf_counter() - started


def _kill_during(started: Callable[[], bool], seconds: float, *args: str) -> bool:
    """Start ``trainlab ARGS``; once ``started()`` says its work began, SIGKILL it after ``seconds``
    (unless it ended first: then False)."""
    process = _trainlab(*args)
    deadline = time.monotonic() + 600
    while not started() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()  # SIGKILL
        process.wait()
        return True
    return False


def _busy_seconds(runs: list[Path], last: Path) -> float:
    """How long a reference command trained: from the first event of its first run to its last file."""
    first = min(RunDir(run).events()[0]["time"] for run in runs)
    return last.stat().st_mtime - first


def _final_tensors(run_dir: Path) -> dict:
    return load_checkpoint(RunDir(run_dir).latest_checkpoint())[0]


def _same_tensors(got: dict, expected: dict) -> bool:
    return got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in expected)


def _metrics_rows(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in RunDir(run_dir).metrics()]


def _trials(out: Path) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=KILL_RECIPE["name"], storage=f"sqlite:///{out / 'study.db'}")
    return study.get_trials(deepcopy=False)


@pytest.mark.slow
def test_sigkill_at_random_moments(tmp_path):
    import random

    from optuna.trial import TrialState

    rng = random.Random(14)
    recipe = write(tmp_path, KILL_RECIPE)
    space = tmp_path / "space.yaml"
    space.write_text("optim.lr: {loguniform: [0.001, 0.03]}\n")
    results, kills = [], 0

    # run: 8 kills while it trains, each followed by --resume
    _finish("run", str(recipe), "--runs-dir", str(tmp_path / "reference"), "--quiet")
    (reference,) = (tmp_path / "reference").iterdir()
    busy = _busy_seconds([reference], reference / "report.html")
    for k in range(8):
        runs = tmp_path / f"run{k}"
        kills += _kill_during(lambda: any(runs.glob("kill-*/events.jsonl")), rng.uniform(0, busy),  # noqa: B023
                     "run", str(recipe), "--runs-dir", str(runs), "--quiet")
        (run_dir,) = runs.glob("kill-*")
        if RunDir(run_dir).status()["status"] != "finished":
            _finish("run", "--resume", str(run_dir), "--quiet")
        results.append(_same_tensors(_final_tensors(run_dir), _final_tensors(reference))
                       and _metrics_rows(run_dir) == _metrics_rows(reference))

    # compare: 6 kills while its runs train, each followed by the same command again
    compare_args = ["compare", str(recipe), "--vary", "optim.lr=0.003,0.01", "--seeds", "2", "--workers", "2",
                    "--quiet", "--set", "stopping.epochs=3"]
    _finish(*compare_args, "--out", str(tmp_path / "cmp-reference"))
    busy = _busy_seconds(list((tmp_path / "cmp-reference").glob("v*")), tmp_path / "cmp-reference" / "summary.csv")
    expected = {d.name: _final_tensors(d) for d in (tmp_path / "cmp-reference").glob("v*")}
    for k in range(6):
        out = tmp_path / f"cmp{k}"
        kills += _kill_during(lambda: any(out.glob("v*/events.jsonl")), rng.uniform(0, busy),  # noqa: B023
                     *compare_args, "--out", str(out))
        _finish(*compare_args, "--out", str(out))
        got = {d.name: _final_tensors(d) for d in out.glob("v*") if d.is_dir()}
        results.append(got.keys() == expected.keys() and all(_same_tensors(got[n], expected[n]) for n in expected))

    # search: 6 kills while its trials train, each followed by the same command again; trial k draws its
    # values from (seed, k), so every complete trial must match the reference trial of its number
    search_args = ["search", str(recipe), "--space", str(space), "--trials", "4", "--heartbeat", "1", "--grace", "2",
                   "--set", "stopping.epochs=2", "--set", "checkpoint.every_steps=null"]
    reference_out = tmp_path / "search-reference"
    _finish(*search_args[:5], "8", *search_args[6:], "--out", str(reference_out))  # 8 trials: numbers 0 to 7
    reference_trials = {t.number: (t.user_attrs["values"], t.value) for t in _trials(reference_out)}
    busy = _busy_seconds(list((reference_out / "trials").iterdir()), reference_out / "report.html") / 2  # 4 of 8
    for k in range(6):
        out = tmp_path / f"search{k}"
        kills += _kill_during(lambda: any(out.glob("trials/*/events.jsonl")), rng.uniform(0, busy),  # noqa: B023
                     *search_args, "--out", str(out))
        _finish(*search_args, "--out", str(out))
        trials = _trials(out)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        results.append(len(finished) == 4 and len({t.number for t in finished}) == 4
                       and all((t.user_attrs["values"], t.value) == reference_trials[t.number] for t in complete)
                       and all(RunDir(out / "trials" / str(t.number)).status()["status"] == "finished"
                               for t in complete))
    assert results == [True] * 20
    assert kills >= 15, f"only {kills} of 20 kills landed before the command ended"


def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_failed(tmp_path):
    # Found by test_sigkill_at_random_moments: a search killed between creating a trial and its first
    # heartbeat left it RUNNING for good, and the restarted search waited for it forever.
    import warnings

    import optuna

    from trainlab.tools.search_storage import fail_stale_trials, open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat=1, grace=2),
                                study_name="s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "heartbeat … supposed to be used with Study.optimize": the dead worker's ask
        study.ask()
    fail_stale_trials(study)
    assert [t.state.name for t in study.get_trials()] == ["RUNNING"]  # within the grace period: alive, maybe
    time.sleep(2.5)
    fail_stale_trials(study)
    assert [t.state.name for t in study.get_trials()] == ["FAIL"]
