"""The pde task family: residuals against known solutions, collocation layouts, the loss and metric
formulas, resampling, recipe errors, a user's residual by import path, and Adam → L-BFGS runs."""
from __future__ import annotations

import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_resume import _Kill  # stops a run right after a step, as a SIGKILL would

from trainlab.data.batching import TensorBatches
from trainlab.errors import RecipeError
from trainlab.pde.dataset import BOUNDARY, INITIAL, KNOWN, RESIDUAL, TERM, VALUE, WEIGHT, pde
from trainlab.pde.physics import PhysicsInformed, Resample, physics_loss, rel_l2
from trainlab.pde.problems import BUILT_IN, partial
from trainlab.predict import Predictor
from trainlab.recipe import load_recipe
from trainlab.run import build, resume_run, run_recipe
from trainlab.rundir import RunDir
from trainlab.train.callbacks import LoopState
from trainlab.train.checkpoint import load_checkpoint

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _points(problem: str, n: int = 50) -> torch.Tensor:
    low, high = torch.tensor(BUILT_IN[problem].bounds, dtype=torch.float64).T
    return (low + (high - low) * torch.rand(n, len(low), dtype=torch.float64)).requires_grad_(True)


@pytest.mark.parametrize("name", ["poisson1d", "heat1d", "laplace2d"])
def test_the_exact_solution_zeroes_the_residual(name):
    torch.manual_seed(0)
    problem = BUILT_IN[name]
    x = _points(name)
    r = problem.residual(x, problem.exact(x))
    # float64 autograd of sin/exp/sinh: rounding ~1e-13 of terms of size π² ≈ 10
    assert r.abs().max().item() < 1e-10


def test_burgers_residual_of_a_manufactured_function():
    x = _points("burgers")
    u = x[:, :1] * x[:, 1:]  # u = x·t: u_t = x, u·u_x = x·t², u_xx = 0
    expected = x[:, :1] + x[:, :1] * x[:, 1:] ** 2
    assert torch.allclose(BUILT_IN["burgers"].residual(x, u), expected, rtol=1e-12, atol=1e-12)
    boundary = BUILT_IN["burgers"].boundary(torch.tensor([[-1.0, 0.3], [1.0, 0.7], [0.5, 0.0]], dtype=torch.float64))
    assert torch.allclose(boundary[:, 0], torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64), atol=1e-15)


def test_burgers_cole_hopf_solution_satisfies_the_equation_and_the_conditions():
    problem = BUILT_IN["burgers"]
    points = torch.tensor([[-0.5, 0.2], [0.3, 0.5], [-0.8, 0.9], [0.6, 0.75], [-0.1, 0.1]], dtype=torch.float64)
    h = 1e-4

    def u(dx: float = 0.0, dt: float = 0.0) -> torch.Tensor:
        return problem.exact(points + torch.tensor([dx, dt], dtype=torch.float64))[:, 0]

    u_t, u_x = (u(dt=h) - u(dt=-h)) / (2 * h), (u(dx=h) - u(dx=-h)) / (2 * h)
    u_xx = (u(dx=h) - 2 * u() + u(dx=-h)) / h**2
    residual = u_t + u() * u_x - 0.01 / math.pi * u_xx
    # central differences with h = 1e-4 are accurate to ~1e-7 here; the terms themselves are 0.1–1.7
    assert residual.abs().max().item() < 1e-5
    edges = torch.tensor([[0.3, 0.0], [-1.0, 0.6], [1.0, 0.6]], dtype=torch.float64)
    assert torch.allclose(problem.exact(edges)[:, 0], torch.tensor([-math.sin(0.3 * math.pi), 0.0, 0.0],
                                                                   dtype=torch.float64), atol=1e-12)


def test_partial_takes_mixed_derivatives():
    x = torch.rand(10, 2, dtype=torch.float64, requires_grad=True)
    u = x[:, :1] ** 2 * x[:, 1:] ** 3
    assert torch.allclose(partial(u, x, 0, 1), 6 * x[:, :1] * x[:, 1:] ** 2)


def test_poisson_layout_grid_boundary_and_test_grid():
    data = pde(seed=0, problem="poisson1d", points=128)
    term = data.y[:, TERM]
    assert (term == RESIDUAL).sum() == 128 and (term == BOUNDARY).sum() == 2 and data.n_outputs == 1
    assert np.allclose(np.sort(data.x[term == BOUNDARY, 0]), [0.0, 1.0])
    assert np.allclose(data.x[term == RESIDUAL, 0], np.linspace(0, 1, 128))  # uniform: a grid, ends included
    # targets: sin(πx) inside (the exact solution), g = 0 at the ends, weights 1
    assert np.allclose(data.y[term == RESIDUAL, VALUE], np.sin(np.pi * data.x[term == RESIDUAL, 0]), atol=1e-7)
    assert np.allclose(data.y[term == BOUNDARY, VALUE], 0.0, atol=1e-7) and (data.y[:, WEIGHT] == 1).all()
    assert data.x_test.shape == (1001, 1) and (data.y_test[:, TERM] == RESIDUAL).all()


def test_heat_layout_has_side_faces_and_an_initial_face_but_no_final_face():
    data = pde(seed=0, problem="heat1d", points=100, boundary_points=40, initial_points=30, sampling="random",
               weights={"initial": 10.0})
    x, term = data.x, data.y[:, TERM]
    side, initial = x[term == BOUNDARY], x[term == INITIAL]
    assert len(side) == 40 and set(np.unique(side[:, 0])) == {0.0, 1.0}  # 20 per face, x = 0 and x = 1
    assert len(initial) == 30 and (initial[:, 1] == 0).all()  # t = t₀ only; t = 1 stays free
    assert np.allclose(data.y[term == INITIAL, VALUE], np.sin(np.pi * initial[:, 0]), atol=1e-6)
    assert (data.y[term == INITIAL, WEIGHT] == 10).all() and (data.y[term == RESIDUAL, WEIGHT] == 1).all()
    inside = x[term == RESIDUAL]
    assert inside.min() >= 0 and inside.max() <= 1 and len(np.unique(inside[:, 0])) == 100  # random draws


def test_laplace_boundary_covers_four_sides_with_the_exact_values():
    data = pde(seed=0, problem="laplace2d", points=400, boundary_points=80)
    term = data.y[:, TERM]
    edge = data.x[term == BOUNDARY]
    assert len(edge) == 80 and (term == RESIDUAL).sum() == 400  # 20 × 20 grid inside
    on_side = (edge == 0) | (edge == 1)
    assert on_side.any(axis=1).all()
    top = edge[:, 1] == 1
    assert np.allclose(data.y[term == BOUNDARY][top, VALUE], np.sin(np.pi * edge[top, 0]), atol=1e-6)
    assert data.x_test.shape == (101 * 101, 2)


def test_loss_is_the_weighted_sum_of_each_terms_mean_square():
    out = torch.tensor([[1.0, 9.0], [3.0, 9.0], [9.0, 2.0], [9.0, 0.5], [9.0, 4.0]], dtype=torch.float64)
    y = torch.tensor([[RESIDUAL, 0, 1, 1.0], [RESIDUAL, 0, 1, 1.0], [BOUNDARY, 1.0, 1, 10.0], [BOUNDARY, 0.0, 1, 10.0],
                      [INITIAL, 1.0, 1, 0.5]], dtype=torch.float64)
    # residual rows (1² + 3²)/2 = 5; boundary ((2−1)² + 0.5²)/2 = 0.625 × 10; initial (4−1)² × 0.5; the 9s are ignored
    assert physics_loss(out, y).item() == pytest.approx(5 + 6.25 + 4.5, rel=1e-12)
    assert physics_loss(out, y, reduction="none").tolist() == pytest.approx([1, 9, 10, 2.5, 4.5], rel=1e-12)


def test_rel_l2_is_the_relative_norm_on_interior_rows_and_nan_without_exact():
    u = torch.tensor([1.1, 1.9, 5.0])
    out = torch.stack([torch.zeros(3), u], dim=1)
    y = torch.tensor([[RESIDUAL, 1.0, 1, 1], [RESIDUAL, 2.0, 1, 1], [BOUNDARY, 0.0, 1, 1]])
    expected = math.sqrt(0.1**2 + 0.1**2) / math.sqrt(1 + 4)  # the boundary row is not part of it
    assert rel_l2()(out, y).item() / 3 == pytest.approx(expected, rel=1e-6)  # a batch sum: the Trainer divides by n
    y[:, KNOWN] = 0
    assert math.isnan(rel_l2()(out, y).item())


def test_wrapper_outputs_residual_and_u_and_keeps_the_networks_keys():
    net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    model = PhysicsInformed(net, BUILT_IN["poisson1d"])
    assert list(model.state_dict()) == list(net.state_dict())
    x = torch.linspace(0, 1, 7, dtype=torch.float64).unsqueeze(1)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (7, 2) and not out.requires_grad  # evaluation: autograd inside, output detached
    xg = x.clone().requires_grad_(True)
    u = net(xg)
    assert torch.allclose(out[:, 1:], u) and torch.allclose(out[:, :1], partial(u, xg, 0, 0) + math.pi**2 * torch.sin(math.pi * x))


def test_resampling_draws_per_epoch_from_the_seed():
    data = pde(seed=3, problem="heat1d", points=64, sampling="resample")
    x, y = torch.as_tensor(data.x).clone(), torch.as_tensor(data.y).clone()
    train = TensorBatches(x, y, len(x), shuffle=False)
    part = Resample(train, data.draw)
    state = LoopState(torch.nn.Linear(1, 1), torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), epochs=3)
    seen = []
    for epoch in (0, 1, 1):
        state.epoch = epoch
        part.on_epoch_start(state)
        seen.append(train.x.clone())
    assert not torch.equal(seen[0], seen[1]) and torch.equal(seen[1], seen[2])  # a resumed epoch draws the same
    term = train.y[:, TERM]
    assert torch.allclose(train.y[term == RESIDUAL, VALUE].float(), BUILT_IN["heat1d"].exact(train.x[term == RESIDUAL].double())[:, 0].float(), atol=1e-6)


POISSON = {"name": "pinn", "seed": 0, "precision": "float64",
           "data": {"name": "pde", "problem": "poisson1d", "points": 64, "batch_mode": "fullbatch", "val_fraction": 0},
           "model": {"name": "mlp", "hidden": [16, 16], "activation": "tanh"},
           "optim": {"name": "chain", "lr": 0.01, "then": {"name": "lbfgs", "tolerance_change": 0}, "switch_epoch": 200},
           "stopping": {"epochs": 210}, "checkpoint": {"every": 100}}


@pytest.mark.parametrize(("change", "field"), [
    ({"data": {**POISSON["data"], "preprocess": "zscore"}}, "data.preprocess"),
    ({"data": {**POISSON["data"], "val_fraction": 0.1}}, "data.val_fraction"),
    ({"model": {"name": "mlp", "batchnorm": True}}, "model.batchnorm"),
    ({"data": {**POISSON["data"], "problem": "custom", "residual": "trainlab.pde.problems:_poisson1d",
               "bounds": [[0, 1]]}}, "metrics: rel_l2 needs the exact solution"),
    ({"data": {**POISSON["data"], "problem": "custom"}}, "problem: 'custom' needs residual"),
    ({"loss": "mse"}, "loss: 'mse'"),
    ({"data": {**POISSON["data"], "problem": "poison1d"}}, "problem: 'poison1d' is not a built-in"),
    ({"data": {**POISSON["data"], "residual": "m:f"}}, "they go with problem: custom"),
    ({"data": {**POISSON["data"], "weights": {"interior": 2}}}, "weights: unknown terms"),
])
def test_recipes_that_cannot_work_are_clear_errors(change, field):
    with pytest.raises(RecipeError, match=field):
        build(load_recipe({**POISSON, **change}))


def test_a_users_residual_by_import_path(tmp_path, monkeypatch):
    (tmp_path / "my_ode.py").write_text(
        "import torch\nfrom trainlab.pde import partial\n\n"
        "def residual(x, u):\n    return partial(u, x, 0) - torch.cos(x)  # u' = cos x\n\n"
        "def exact(x):\n    return torch.sin(x)  # also the boundary values: u(0) = 0, u(2) = sin 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = {"name": "pde", "problem": "custom", "residual": "my_ode:residual", "bounds": [[0, 2]],
            "boundary": "my_ode:exact", "exact": "my_ode:exact", "points": 32, "batch_mode": "fullbatch",
            "val_fraction": 0}
    recipe = {**POISSON, "data": data, "optim": {"name": "adam", "lr": 0.01}, "stopping": {"epochs": 300}}
    setup = build(load_recipe(recipe))
    history = setup.trainer.fit(setup.train, setup.val, 300)
    assert history[-1]["loss"] < 0.1 * history[0]["loss"] and history[-1]["rel_l2"] < 0.1  # it learns sin x
    with pytest.raises(RecipeError, match="data: data.residual: .*no 'missing'"):
        build(load_recipe({**POISSON, "data": {**data, "residual": "my_ode:missing"}}))


def test_docs_own_equation_example_runs_as_written(tmp_path):
    text = (DOCS / "pde.md").read_text()
    (tmp_path / "my_problem.py").write_text(re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1))
    (tmp_path / "my_problem.yaml").write_text(re.search(r"```yaml\n(# my_problem\.yaml.*?)```", text, re.DOTALL).group(1))
    result = run_recipe(load_recipe(tmp_path / "my_problem.yaml"), tmp_path / "runs")  # its folder is on the path
    # 300 Adam steps and 20 L-BFGS epochs on u'' + u = 0: measured rel. L2 5.3e-7 against sin x
    assert result.test["test_rel_l2"] < 1e-4
    with pytest.raises(RecipeError, match=r"data: data\.residual: module 'my_problem' has no 'residul'"):
        build(load_recipe(tmp_path / "my_problem.yaml", ["data.residual=my_problem:residul"]))


def test_adam_then_lbfgs_run_writes_solution_report_and_predicts(tmp_path):
    result = run_recipe(load_recipe(POISSON), tmp_path)
    run = RunDir(result.run_dir)
    # 200 Adam steps then 10 L-BFGS epochs on 64 points, float64: measured rel. L2 1.3e-4 on the 1001-point grid
    assert result.test["test_rel_l2"] < 2e-3
    arrays = run.solution()
    assert arrays["points"].shape == (1001, 1) and set(arrays) >= {"u", "exact", "residual"}
    # the solution file and the metric agree: ‖u − u*‖/‖u*‖ on the same grid
    error = np.linalg.norm(arrays["u"] - arrays["exact"]) / np.linalg.norm(arrays["exact"])
    assert error == pytest.approx(result.test["test_rel_l2"], rel=1e-9)
    assert "Solution on the test grid" in (result.run_dir / "report.html").read_text()
    u = Predictor(result.run_dir).predict(np.array([[0.5]], dtype=np.float32))  # the network alone: u(0.5)
    assert float(np.ravel(u)[0]) == pytest.approx(1.0, abs=1e-2)



@pytest.mark.parametrize(("optim", "sampling", "kill"), [
    ({"name": "chain", "lr": 0.01, "then": {"name": "lbfgs", "max_iter": 5}, "switch_epoch": 12}, "uniform", 17),
    ({"name": "adam", "lr": 0.01}, "resample", 13),
])
def test_a_killed_pinn_run_resumes_exactly(optim, sampling, kill, tmp_path):
    recipe = {**POISSON, "data": {**POISSON["data"], "points": 16, "sampling": sampling},
              "model": {"name": "mlp", "hidden": [8], "activation": "tanh"}, "optim": optim,
              "stopping": {"epochs": 20}, "checkpoint": {"every": 5}}
    plain = run_recipe(load_recipe(recipe), tmp_path / "plain").run_dir
    with pytest.raises(KeyboardInterrupt):
        run_recipe(load_recipe(recipe), tmp_path / "killed", output=[_Kill(kill)])
    killed = next((tmp_path / "killed").iterdir())
    resume_run(killed)
    def rows(run_dir: Path) -> list[dict]:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in RunDir(run_dir).metrics()]

    assert rows(killed) == rows(plain)  # every epoch's loss and rel_l2, bit for bit
    got, _ = load_checkpoint(killed / "checkpoints" / "epoch-0020")
    expected, _ = load_checkpoint(plain / "checkpoints" / "epoch-0020")
    assert all(torch.equal(got[k], expected[k]) for k in expected if k.startswith("model."))  # bit for bit


def test_laplace_report_draws_fields(tmp_path):
    recipe = {**POISSON, "data": {"name": "pde", "problem": "laplace2d", "points": 100, "boundary_points": 40,
                                  "grid": 21, "batch_mode": "fullbatch", "val_fraction": 0},
              "optim": {"name": "adam", "lr": 0.01}, "stopping": {"epochs": 3}}
    result = run_recipe(load_recipe(recipe), tmp_path)
    page = (result.run_dir / "report.html").read_text()
    assert page.count("<svg") >= 4 + 1 and "|u − u*|" in page  # u, u*, error, residual fields and the loss curve


@pytest.mark.slow
@pytest.mark.parametrize("example", ["pinn_poisson.yaml", "pinn_burgers.yaml"])
def test_pinn_examples_run_in_two_minutes(example, tmp_path):
    started = time.process_time()
    result = run_recipe(load_recipe(EXAMPLES / example), tmp_path)
    assert time.process_time() - started < 120  # CPU seconds of this process: the budget on 2 cores, unshared
    if example == "pinn_poisson.yaml":
        assert result.test["test_rel_l2"] < 1e-3  # the acceptance bound (measured: see docs/pde.md)
