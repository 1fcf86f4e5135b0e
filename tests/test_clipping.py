"""Gradient clipping: the formulas, its place in the step (L-BFGS closures included), the recipe
fields and the doctor's remedy for exploding gradients."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from trainlab.data.batching import TensorBatches
from trainlab.diagnose.evidence import RunEvidence
from trainlab.diagnose.findings import new_remedies
from trainlab.diagnose.rules import exploding_gradients
from trainlab.errors import RecipeError
from trainlab.optim.optimizers import lbfgs
from trainlab.recipe import load_recipe
from trainlab.run import build
from trainlab.train.callbacks import Callback, LoopState, Order
from trainlab.train.loop_parts import ClipGradients
from trainlab.train.trainer import Trainer


def _state(model: nn.Module) -> LoopState:
    return LoopState(model, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1)


def _with_grads(*grads: list[float]) -> nn.Module:
    model = nn.Module()
    model.params = nn.ParameterList([nn.Parameter(torch.zeros(len(g))) for g in grads])
    for p, g in zip(model.params, grads):
        p.grad = torch.tensor(g)
    return model


def test_norm_clipping_caps_the_global_norm_and_keeps_the_direction():
    model = _with_grads([3.0, 0.0], [0.0, 4.0])  # ‖g‖ = 5 over both tensors
    ClipGradients(max_norm=1.0).after_backward(_state(model))
    clipped = torch.cat([p.grad for p in model.params])
    # g·min(1, τ/‖g‖) = g/5: exact up to torch's 1e-6 added to the norm in the division
    assert clipped.tolist() == pytest.approx([0.6, 0.0, 0.0, 0.8], rel=1e-5)


def test_norm_clipping_leaves_a_short_gradient_alone():
    model = _with_grads([0.3, -0.4])  # ‖g‖ = 0.5 < τ
    ClipGradients(max_norm=1.0).after_backward(_state(model))
    # the factor min(1, τ/(‖g‖ + 1e-6)) is clamped to exactly 1: the gradient is unchanged, bit for bit
    assert torch.equal(model.params[0].grad, torch.tensor([0.3, -0.4]))


def test_value_clipping_clamps_each_component_then_norm_clipping_follows():
    model = _with_grads([3.0, -0.2, -7.0])
    ClipGradients(max_value=0.5).after_backward(_state(model))
    assert torch.equal(model.params[0].grad, torch.tensor([0.5, -0.2, -0.5]))
    both = _with_grads([3.0, -7.0])
    ClipGradients(max_norm=0.5, max_value=1.0).after_backward(_state(both))  # (1, −1), then norm 0.5
    assert both.params[0].grad.tolist() == pytest.approx([0.5 / 2**0.5, -0.5 / 2**0.5], rel=1e-5)


@pytest.mark.parametrize("kwargs", [{}, {"max_norm": 0.0}, {"max_value": -1.0}])
def test_clipping_refuses_missing_or_non_positive_limits(kwargs):
    with pytest.raises(ValueError, match="max_norm|max_value"):
        ClipGradients(**kwargs)


class GradNorms(Callback):
    """Records the gradient norm every loss evaluation leaves, after the clipping."""

    order = Order.DEFAULT

    def __init__(self):
        self.norms: list[float] = []

    def after_backward(self, state: LoopState) -> None:
        self.norms.append(torch.cat([p.grad.flatten() for p in state.model.parameters()]).norm().item())


def test_lbfgs_line_search_sees_the_clipped_gradient_at_every_evaluation():
    torch.manual_seed(0)
    x = torch.randn(64, 3, dtype=torch.float64)
    y = 50 * x.sum(dim=1, keepdim=True)  # large targets: the raw gradient's norm is in the hundreds
    model = nn.Linear(3, 1).double()
    seen = GradNorms()
    optimizer = lbfgs(model, lr=1.0, max_iter=5)
    trainer = Trainer(model, optimizer, F.mse_loss, callbacks=[ClipGradients(max_norm=0.1), seen])
    trainer.fit(TensorBatches(x, y, 64, shuffle=False), epochs=2)
    assert len(seen.norms) > 2  # the line search evaluated several times per step
    # every evaluation handed the optimizer a gradient of norm ≤ τ (1e-9: float64 rounding of the rescale)
    assert max(seen.norms) <= 0.1 + 1e-9
    stored = optimizer.state[optimizer.param_groups[0]["params"][0]]["prev_flat_grad"]  # the gradient L-BFGS kept for its history
    assert stored.norm().item() <= 0.1 + 1e-9


def test_recipe_fields_switch_clipping_on_in_the_run():
    recipe = {"data": {"name": "moons", "n_samples": 100}, "optim": {"name": "sgd", "lr": 0.1, "clip_norm": 0.01},
              "stopping": {"epochs": 1}}
    setup = build(load_recipe(recipe))
    parts = [c for c in setup.trainer.callbacks if isinstance(c, ClipGradients)]
    assert len(parts) == 1 and parts[0].max_norm == 0.01 and parts[0].max_value is None
    before = [p.detach().clone() for p in setup.model.parameters()]
    x, y = next(iter(setup.train.epoch(0)))
    setup.trainer.step(x, y)
    step = torch.cat([(a - p.detach()).flatten() for a, p in zip(before, setup.model.parameters())])
    # plain SGD moves the weights by η·g with ‖g‖ ≤ τ: the step's length is at most 0.1 · 0.01
    assert step.norm().item() <= 0.1 * 0.01 * (1 + 1e-5)
    plain = build(load_recipe({**recipe, "optim": {"name": "sgd", "lr": 0.1}}))
    assert not any(isinstance(c, ClipGradients) for c in plain.trainer.callbacks)


@pytest.mark.parametrize("field", ["clip_norm", "clip_value"])
def test_a_non_positive_threshold_is_a_recipe_error_naming_the_field(field):
    with pytest.raises(RecipeError, match=rf"optim\.{field}: -1\.0 is not valid"):
        load_recipe({"data": "moons", "optim": {"name": "sgd", field: -1.0}})


def _exploding(recipe: dict) -> RunEvidence:
    """Probe rows whose gradient norm grows 1000× from the output layer (3) to the input layer (1)."""
    rows = [{"layer": layer, "epoch": 1, "step": 1, "name": "Linear", "grad_norm": 10.0 ** (4 - layer) * 10,
             "weight_norm": 1.0} for layer in (1, 2, 3)]
    return RunEvidence(Path("."), recipe, {"data": {"task": "classification"}}, [{"loss": 1.0}], rows)


def test_exploding_gradients_offers_clipping_unless_the_recipe_clips():
    plain = {"model": {"name": "mlp"}, "optim": {"name": "sgd", "lr": 0.1}}
    finding = exploding_gradients(_exploding(plain))[0]
    assert {"optim.clip_norm": 1.0} in [r.changes for r in finding.remedies]
    for clipping in ({"clip_norm": 5.0}, {"clip_value": 0.5}):  # already clipping, at any threshold
        recipe = {**plain, "optim": {**plain["optim"], **clipping}}
        found = new_remedies(exploding_gradients(_exploding(recipe))[0], recipe)  # as the doctor filters them
        assert found.remedies and not any("optim.clip_norm" in r.changes for r in found.remedies)
