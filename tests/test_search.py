"""``trainlab search``: scales of the distributions, staged zoom, shared studies (SQLite and
PostgreSQL), a worker killed mid-trial, pruning, and the best recipe."""
from __future__ import annotations

import importlib.util
import math
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from optuna.samplers import RandomSampler
from optuna.trial import TrialState

from trainlab.cli import main
from trainlab.errors import RecipeError, TrainlabError
from trainlab.recipe import load_recipe
from trainlab.run import run_recipe
from trainlab.tools.search import Objective, SearchOptions, SurplusTrial, search
from trainlab.tools.search_samplers import PerTrialSeed, StagedSampler, slot_of
from trainlab.tools.space import apply_values, check_space, parse_space

optuna.logging.set_verbosity(optuna.logging.ERROR)

RECIPE = {"name": "tiny", "seed": 0,
          "data": {"name": "moons", "n_samples": 200, "batch_size": 32, "preprocess": "zscore"},
          "model": {"name": "mlp", "hidden": [16], "activation": "tanh"},
          "optim": {"name": "adam", "lr": 0.01}, "stopping": {"epochs": 2}, "checkpoint": {"every": 5}}
SPACE = {"optim.lr": {"loguniform": ["1e-3", 0.3]}, "optim.betas.0": {"one_minus_loguniform": [0.8, 0.99]}}


def _files(tmp_path: Path, recipe: dict = RECIPE, space: dict = SPACE) -> tuple[Path, Path]:
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space))
    return tmp_path / "recipe.yaml", tmp_path / "space.yaml"


def _worker(recipe: Path, space: Path, out: Path, trials: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "trainlab", "search", str(recipe), "--space", str(space),
               "--trials", str(trials), "--out", str(out), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(*workers: subprocess.Popen) -> None:
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, f"worker failed:\n{out}\n{err}"


def _by_state(study: optuna.Study) -> dict[str, list[int]]:
    states: dict[str, list[int]] = {}
    for t in study.get_trials():
        key = "surplus" if t.user_attrs.get("surplus") else t.state.name
        states.setdefault(key, []).append(t.number)
    return states


def _ask_values(sampler: optuna.samplers.BaseSampler, space_data: dict, n: int) -> list[dict]:
    space, study = parse_space(space_data), optuna.create_study(sampler=sampler)
    values = []
    for _ in range(n):
        trial = study.ask()
        values.append(space.suggest(trial))
        study.tell(trial, 0.0)
    return values


# ---- distributions and the space file ----


def test_distributions_sample_on_their_scale():
    n = 2000
    values = _ask_values(PerTrialSeed(lambda s: RandomSampler(seed=s), 0),
                         {"optim.lr": {"loguniform": ["1e-4", 1]},  # "1e-4": YAML 1.1 reads it as a string
                          "optim.betas.0": {"one_minus_loguniform": [0.9, 0.999]},
                          "model.hidden.0": {"int": [1, 1000], "log": True}}, n)
    lr = np.array([v["optim.lr"] for v in values])
    beta = np.array([v["optim.betas.0"] for v in values])
    hidden = np.array([v["model.hidden.0"] for v in values])
    # Each decade of [1e-4, 1] holds p = 1/4 of the draws; a binomial count has sd √(n p (1-p)) ≈ 19.4,
    # so 4.5 sd (≈ 87) fails a correct sampler with probability < 1e-5 per bin.
    tolerance = 4.5 * math.sqrt(n * 0.25 * 0.75)
    for counts in (np.histogram(np.log10(lr), bins=[-4, -3, -2, -1, 0])[0],
                   np.histogram(np.log10(1 - beta), bins=4, range=(-3, -1))[0]):
        assert np.all(np.abs(counts - n / 4) < tolerance), counts
    assert lr.min() >= 1e-4 and lr.max() <= 1
    assert beta.min() >= 0.9 and beta.max() <= 0.999
    # β = 1 − 10^r: half of the draws lie in [0.99, 0.999] (a uniform β would put 10 % there).
    assert abs(np.mean(beta > 0.99) - 0.5) < tolerance / n * 2
    assert hidden.dtype.kind == "i" and hidden.min() >= 1 and hidden.max() <= 1000
    # log int: [1, 10) and [100, 1000] are about equally likely (a uniform int would give 1 % vs 90 %).
    assert 0.2 < np.mean(hidden < 10) < 0.45 and 0.2 < np.mean(hidden >= 100) < 0.45


def test_choices_uniform_and_lists_round_trip():
    values = _ask_values(PerTrialSeed(lambda s: RandomSampler(seed=s), 1),
                         {"model.hidden": {"choice": [[8], [16, 16]]}, "model.activation": {"choice": ["relu", "tanh"]},
                          "optim.momentum": {"uniform": [0.5, 0.9]}}, 400)
    assert {tuple(v["model.hidden"]) for v in values} == {(8,), (16, 16)}
    # 400 fair coin flips: sd 10, so ±50 is 5 sd.
    assert abs(sum(v["model.activation"] == "relu" for v in values) - 200) < 50
    assert all(0.5 <= v["optim.momentum"] <= 0.9 for v in values)


def test_workers_never_draw_the_same_values():
    """Two samplers with one seed (two workers) draw per trial number, so they never repeat each other."""
    first = _ask_values(PerTrialSeed(lambda s: RandomSampler(seed=s), 0), SPACE, 20)
    again = _ask_values(PerTrialSeed(lambda s: RandomSampler(seed=s), 0), SPACE, 20)
    assert first == again  # reproducible from the seed
    assert len({v["optim.lr"] for v in first}) == 20


@pytest.mark.parametrize("space, expected", [
    ({"optim.lr": {"logunifrom": [1e-4, 1]}},
     "unknown distribution 'logunifrom'; did you mean 'loguniform'? accepted: loguniform, one_minus_loguniform"),
    ({"optim.lr": {"loguniform": [0, 1]}}, "loguniform needs 0 < low < high"),
    ({"optim.lr": {"uniform": [1, "fast"]}}, "bound 'fast' is not a finite number"),
    ({"optim.betas.0": {"one_minus_loguniform": [0.9, 1]}}, "needs 0 <= low < high < 1"),
    ({"model.hidden.0": {"int": [1.5, 8]}}, "bound 1.5 is not an integer"),
    ({"optim.lr": [1e-4, 1]}, "expected a mapping such as {loguniform: [1e-4, 1]}"),
])
def test_bad_space_entries_are_named(space, expected):
    with pytest.raises(TrainlabError, match=None) as error:
        parse_space(space)
    assert expected in str(error.value)
    assert str(error.value).startswith("space ")


def test_key_paths_are_checked_against_the_recipe_before_any_trial(tmp_path, capsys):
    check_space(parse_space({"optim.betas.1": {"uniform": [0.9, 0.99]}}), RECIPE)  # adam's default betas fill in
    assert apply_values(RECIPE, {"optim.betas.0": 0.5})["optim"]["betas"] == [0.5, 0.999]
    with pytest.raises(RecipeError) as error:
        check_space(parse_space({"optim.lrr": {"loguniform": [1e-4, 1]}}), RECIPE)
    assert "optim.lrr: unknown parameter of optimizer 'adam'; did you mean 'lr'?" in str(error.value)
    with pytest.raises(RecipeError, match="optim.lr"):  # lr must be > 0: the low end is tried too
        check_space(parse_space({"optim.lr": {"uniform": [0, 1]}}), RECIPE)
    recipe, space = _files(tmp_path, space={"model.hidden.3": {"int": [1, 8]}})
    assert main(["search", str(recipe), "--space", str(space), "--trials", "2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.hidden is a list of 1; '3' is not an index" in err
    assert not (tmp_path / "o").exists()


# ---- staged search ----


def test_staged_search_zooms_into_the_best_region():
    """Stage boxes follow the documented rule: the range of the best 20 % (at least 2) of the trials
    completed before, on the parameter's own scale; the optimum log10(lr) = −2 stays inside."""
    space = parse_space({"optim.lr": {"loguniform": [1e-6, 1]}, "model.activation": {"choice": ["relu", "tanh"]}})
    sampler = StagedSampler(n_trials=30, stages=3, keep=0.2, seed=0)
    study = optuna.create_study(sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        values = space.suggest(trial)
        for key, value in sampler.trial_attrs().items():
            trial.set_user_attr(key, value)
        return (math.log10(values["optim.lr"]) + 2) ** 2 + (values["model.activation"] == "relu")

    study.optimize(objective, n_trials=30)
    trials = study.get_trials()
    assert [t.user_attrs["stage"] for t in trials] == [1] * 10 + [2] * 10 + [3] * 10
    for t in trials[10:]:
        before = sorted(trials[:t.number], key=lambda u: u.value)[:max(2, math.ceil(0.2 * t.number))]
        low, high = t.user_attrs["box"]["optim.lr"]
        assert (low, high) == (min(u.params["optim.lr"] for u in before), max(u.params["optim.lr"] for u in before))
        assert low <= t.params["optim.lr"] <= high
        assert t.user_attrs["box"]["model.activation"] == sorted({u.params["model.activation"] for u in before})
    width = {s: np.mean([math.log10(t.user_attrs["box"]["optim.lr"][1] / t.user_attrs["box"]["optim.lr"][0])
                         for t in trials if t.user_attrs["stage"] == s]) for s in (2, 3)}
    assert width[3] < width[2] < 6  # decades: the whole space is 6
    assert width[3] < 1.5
    assert study.best_trial.params["model.activation"] == "tanh"
    assert abs(math.log10(study.best_trial.params["optim.lr"]) + 2) < 0.2


# ---- shared studies ----


def _check_shared_study(url: str, study_name: str, n: int, outs: list[Path]) -> optuna.Study:
    study = optuna.load_study(study_name=study_name, storage=url)
    states = _by_state(study)
    assert len(states["COMPLETE"]) == n, states
    assert set(states) <= {"COMPLETE", "surplus"}, states
    numbers = [t.number for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert len(set(numbers)) == n
    run_dirs = [int(p.name) for out in outs if (out / "trials").is_dir() for p in (out / "trials").iterdir()]
    assert sorted(run_dirs) == sorted(numbers)  # one run directory per trial, none twice
    # Stages go by place in the budget, which is exact across workers: half the trials in each of 2 stages.
    assert sorted(t.user_attrs["stage"] for t in study.get_trials(states=(TrialState.COMPLETE,))) == [1, 1, 2, 2]
    return study


def test_two_workers_share_one_sqlite_study_and_best_yaml_reproduces_the_best(tmp_path):
    recipe, space = _files(tmp_path)
    out = tmp_path / "out"
    workers = [_worker(recipe, space, out, 4, "--strategy", "staged", "--stages", "2") for _ in range(2)]
    _finish(*workers)
    study = _check_shared_study(f"sqlite:///{out / 'study.db'}", "tiny", 4, [out])
    page = (out / "report.html").read_text()
    assert page.count("<svg") >= 2 + len(SPACE) and "<script" not in page and "Best trials" in page
    best = load_recipe(out / "best.yaml")
    assert best.optim.lr == pytest.approx(study.best_trial.user_attrs["values"]["optim.lr"], rel=1e-12)
    result = run_recipe(best, tmp_path / "runs")
    # Same recipe, seed and CPU: the same numbers up to the order of float sums (thread count may differ).
    assert result.history[-1]["val_loss"] == pytest.approx(study.best_value, rel=1e-4)


def test_killed_worker_leaves_a_failed_trial_and_a_restart_finishes(tmp_path):
    # About 0.25 s per epoch on a loaded CPU: the kill after epoch 1 lands well inside the trial.
    slow = {**RECIPE, "data": {**RECIPE["data"], "n_samples": 2000, "batch_size": 8}, "stopping": {"epochs": 8}}
    recipe, space = _files(tmp_path, recipe=slow)
    out, beat = tmp_path / "out", ("--heartbeat", "1", "--grace", "2")
    killed = _worker(recipe, space, out, 1, *beat)
    metrics = out / "trials" / "0" / "metrics.csv"
    deadline = time.time() + 120
    while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2):  # epoch 1 is done
        assert time.time() < deadline and killed.poll() is None, killed.communicate()
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    url = f"sqlite:///{out / 'study.db'}"
    assert _by_state(optuna.load_study(study_name="tiny", storage=url)) == {"RUNNING": [0]}
    restarted = search(recipe, space, SearchOptions(n_trials=1, out=out, heartbeat=1, grace=2), log=lambda line: None)
    assert restarted.best_trial.number == 1
    assert _by_state(optuna.load_study(study_name="tiny", storage=url)) == {"FAIL": [0], "COMPLETE": [1]}


def test_a_trial_created_for_a_taken_place_is_closed_unused(tmp_path):
    """The race the budget check cannot see: two workers create trials at once for the last place."""
    sampler = PerTrialSeed(lambda s: RandomSampler(seed=s), 0)
    study = optuna.create_study(sampler=sampler)
    objective = Objective(RECIPE, parse_space(SPACE), SearchOptions(n_trials=1), tmp_path, sampler, [])
    first, second = study.ask(), study.ask()  # both RUNNING: the budget of 1 is over-asked
    assert (slot_of(study, first.number), slot_of(study, second.number)) == (0, 1)
    with pytest.raises(SurplusTrial):
        objective(second)
    assert second.user_attrs["surplus"] and not second.params  # nothing sampled, nothing trained
    assert not (tmp_path / "trials").exists()


def test_a_worker_with_another_space_cannot_join(tmp_path):
    recipe, space = _files(tmp_path)
    options = SearchOptions(n_trials=1, out=tmp_path / "out")
    search(recipe, space, options, log=lambda line: None)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"optim.lr": {"loguniform": [1e-4, 1]}}))
    with pytest.raises(TrainlabError, match="started with a different space"):
        search(recipe, other, options, log=lambda line: None)


# ---- pruning ----


def test_median_pruning_stops_runs_in_a_hopeless_region(tmp_path):
    """SGD at lr < 1e-3 barely moves in 5 epochs: the median pruner should stop such runs early."""
    recipe = {**RECIPE, "optim": {"name": "sgd", "lr": 0.1}, "stopping": {"epochs": 5},
              "data": {**RECIPE["data"], "batch_size": 8}}
    options = SearchOptions(n_trials=10, strategy="optuna", out=tmp_path / "out", startup_trials=3,
                            prune_warmup=0, seed=0)
    result = search(recipe, {"optim.lr": {"loguniform": [1e-6, 1]}}, options, log=lambda line: None)
    pruned = result.study.get_trials(states=(TrialState.PRUNED,))
    complete = result.study.get_trials(states=(TrialState.COMPLETE,))
    assert pruned and len(pruned) + len(complete) == 10
    assert all(t.user_attrs["epochs"] < 5 for t in pruned)
    assert np.median([t.params["optim.lr"] for t in pruned]) < np.median([t.params["optim.lr"] for t in complete])
    assert "pruned" in (result.out / "report.html").read_text()


# ---- PostgreSQL ----


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """$TRAINLAB_TEST_POSTGRES_URL if set, else a throwaway server on 127.0.0.1 in a temp dir
    (skipped without the server binaries or a driver)."""
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is None:
        pytest.skip("no PostgreSQL driver for SQLAlchemy: pip install 'psycopg[binary]'")
    if os.environ.get("TRAINLAB_TEST_POSTGRES_URL"):
        yield os.environ["TRAINLAB_TEST_POSTGRES_URL"]
        return
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("no PostgreSQL server: initdb/pg_ctl are not on PATH (Debian: apt-get install postgresql) and "
                    "TRAINLAB_TEST_POSTGRES_URL is not set; see docs/search.md")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="trainlab-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port, data = _free_port(), base / "data"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    subprocess.run([*as_user, initdb, "-D", str(data), "-U", "trainlab", "--auth=trust"], check=True, **quiet)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o", options, "start"],
                   check=True, **quiet)
    try:
        yield f"postgresql://trainlab@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False,
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_one_postgresql_study(tmp_path, postgres_url):
    """Two "machines": one storage URL, each worker with its own output folder."""
    recipe, space = _files(tmp_path)
    outs = [tmp_path / "machine-a", tmp_path / "machine-b"]
    study = f"tiny-{uuid.uuid4().hex[:8]}"  # a server given by URL may hold studies of earlier runs
    workers = [_worker(recipe, space, out, 4, "--strategy", "staged", "--stages", "2", "--storage", postgres_url,
                       "--study", study) for out in outs]
    _finish(*workers)
    _check_shared_study(postgres_url, study, 4, outs)


def test_space_file_in_the_docs_fits_its_recipe():
    root = Path(__file__).parent.parent
    block = re.search(r"```yaml\n(# moons_space\.yaml.*?)```", (root / "docs" / "search.md").read_text(), re.DOTALL)
    recipe = yaml.safe_load((root / "examples" / "moons_sgd.yaml").read_text())
    check_space(parse_space(yaml.safe_load(block.group(1))), recipe)
