"""precision bf16/fp16 (autocast, fp16's gradient scaler), accumulate N and compile: what each computes,
that a killed run resumes exactly with each, and that the recipe refuses what cannot work."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from test_resume import _Kill  # stops a run right after a step, as a SIGKILL would
from torch import nn
from torch.nn import functional as F

from trainlab.data.batching import TensorBatches
from trainlab.errors import RecipeError
from trainlab.recipe import load_recipe
from trainlab.run import build, load_model, resume_run, run_recipe
from trainlab.rundir import latest_checkpoint
from trainlab.train.checkpoint import load_checkpoint
from trainlab.train.compiled import compile_forward
from trainlab.train.trainer import Trainer

MOONS = {"name": "moons", "n_samples": 256, "batch_size": 16}


def recipe(**changes) -> dict:
    # Dropout draws from the global RNG, so an exact resume also needs the RNG back from the checkpoint.
    return {"name": "prec", "seed": 3, "data": MOONS, "model": {"name": "mlp", "hidden": [16], "dropout": 0.2},
            "optim": {"name": "adam", "lr": 0.01}, "stopping": {"epochs": 3},
            "checkpoint": {"every": 1, "every_steps": 5}, **changes}



def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


@pytest.mark.parametrize("changes", [{"precision": "bf16"}, {"precision": "fp16"}, {"accumulate": 3},
                                     {"precision": "bf16", "accumulate": 2}], ids=str)
def test_a_killed_run_resumes_bit_identically(changes, tmp_path):
    spec = recipe(**changes)
    plain = run_recipe(load_recipe(spec), tmp_path / "plain").run_dir
    with pytest.raises(KeyboardInterrupt):  # inside epoch 2, after the in-epoch checkpoint at step 10
        run_recipe(load_recipe(spec), tmp_path / "killed", output=[_Kill(12)])
    killed = next((tmp_path / "killed").iterdir())
    resume_run(killed)
    events = [json.loads(line) for line in (killed / "events.jsonl").read_text().splitlines()]
    (resumed,) = [e for e in events if e["event"] == "resume"]
    assert "-batch-" in resumed["checkpoint"]  # from inside an epoch (with accumulate: after a whole group)
    assert _rows(killed) == _rows(plain)
    final = latest_checkpoint(plain).name
    got, body = load_checkpoint(killed / "checkpoints" / final)
    expected, _ = load_checkpoint(plain / "checkpoints" / final)
    for key in expected:  # weights, Adam's moments, the RNG: identical, not close
        assert torch.equal(got[key], expected[key]), key
    if changes.get("precision") == "fp16":  # the scaler's scale S travels in the checkpoint
        assert body["callbacks"]["GradScaling"]["scale"] > 0
    assert json.loads((killed / "run.json").read_text())["status"] == "finished"
    assert float(_rows(plain)[-1]["loss"]) < float(_rows(plain)[0]["loss"])  # and it trained


def test_bf16_runs_the_forward_pass_in_bfloat16_and_keeps_float32_weights(tmp_path):
    setup = build(load_recipe(recipe(precision="bf16")))
    seen = []
    first = next(m for m in setup.model.modules() if isinstance(m, nn.Linear))
    first.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    setup.trainer.fit(setup.train, None, 1)
    assert set(seen) == {torch.bfloat16}
    assert {p.dtype for p in setup.model.parameters()} == {torch.float32}
    result = run_recipe(load_recipe(recipe(precision="bf16", stopping={"epochs": 2})), tmp_path)
    assert load_model(result.run_dir).predict(torch.zeros(3, 2).numpy()).shape == (3, 2)


def test_fp16_skips_a_step_with_infinite_gradients_and_halves_the_scale():
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    calls = []

    def loss_fn(out, y):  # the second step's loss is infinite
        calls.append(1)
        loss = F.cross_entropy(out, y)
        return loss * float("inf") if len(calls) == 2 else loss

    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn, precision="fp16")
    x, y = torch.randn(8, 2), torch.tensor([0, 1] * 4)
    trainer.step(x, y)
    before, scale = [p.detach().clone() for p in model.parameters()], trainer.scaling.scaler.get_scale()
    trainer.step(x, y)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert trainer.scaling.scaler.get_scale() == scale / 2
    trainer.step(x, y)
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("n", [128, 136])  # 136: the epoch ends with a group of one batch
def test_accumulating_4_batches_of_8_is_one_step_on_a_batch_of_32(n):
    torch.manual_seed(1)
    x, y = torch.randn(n, 5, dtype=torch.float64), torch.randint(0, 3, (n,))
    start = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()

    def train(batch: int, accumulate: int) -> tuple[nn.Module, list[dict]]:
        model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
        model.load_state_dict(start.state_dict())
        trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.5), F.cross_entropy, accumulate=accumulate)
        history = trainer.fit(TensorBatches(x, y, batch, seed=4), epochs=3)
        return model, history

    accumulated, history_a = train(8, 4)
    whole, history_w = train(32, 1)
    # The same gradients summed in another order: float64 rounding (~1e-16 per operation) over a dozen
    # steps stays far below 1e-12; a wrong weighting of the batches would differ by ~1e-2.
    for a, b in zip(accumulated.parameters(), whole.parameters()):
        assert torch.allclose(a, b, rtol=0, atol=1e-12)
    for row_a, row_w in zip(history_a, history_w):
        assert abs(row_a["loss"] - row_w["loss"]) < 1e-12
    assert len(history_a) == 3


def test_accumulation_counts_optimizer_steps_for_schedules():
    setup = build(load_recipe(recipe(accumulate=4, schedule={"name": "one_cycle", "interval": "step"},
                                     checkpoint={"every": 5})))
    setup.trainer.fit(setup.train, setup.val, 3)  # one_cycle fails if stepped past its total
    assert setup.trainer.state.step == 3 * -(-len(setup.train) // 4)


def test_compile_falls_back_to_eager_with_one_message(capsys):
    def broken_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler found")

    def train(compile):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
        trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), F.cross_entropy, compile=compile)
        x, y = torch.randn(64, 2), torch.randint(0, 2, (64,))
        trainer.fit(TensorBatches(x, y, 16, seed=0), epochs=2)
        return model, trainer

    fallback, trainer = train(broken_backend)
    eager, _ = train(False)
    assert not trainer.forward.active and "no C++ compiler found" in trainer.forward.failure
    err = capsys.readouterr().err
    assert err.count("compile:") == 1 and "training without it" in err
    for a, b in zip(fallback.parameters(), eager.parameters()):
        assert torch.equal(a, b)


def test_compile_keeps_the_state_dict_keys():
    model = nn.Linear(2, 2)
    forward = compile_forward(model, backend="eager")  # dynamo's tracing without code generation
    assert torch.equal(forward(torch.ones(1, 2)), model(torch.ones(1, 2)))
    assert forward.active and list(model.state_dict()) == ["weight", "bias"]


@pytest.mark.slow  # Inductor compiles C++ for the CPU: about 30 s a run here
def test_a_compiled_run_trains_like_the_eager_one_and_resumes_exactly(tmp_path):
    spec = recipe(compile=True, model={"name": "mlp", "hidden": [16]})
    compiled = run_recipe(load_recipe(spec), tmp_path / "compiled")
    eager = run_recipe(load_recipe({**spec, "compile": False}), tmp_path / "eager")
    # Fused kernels round differently: float32 agreement to ~1e-4 after 3 epochs, not bit equality.
    for a, b in zip(compiled.history, eager.history):
        assert abs(a["loss"] - b["loss"]) < 1e-3
    with pytest.raises(KeyboardInterrupt):
        run_recipe(load_recipe(spec), tmp_path / "killed", output=[_Kill(12)])
    killed = next((tmp_path / "killed").iterdir())
    resume_run(killed)
    assert _rows(killed) == _rows(compiled.run_dir)


@pytest.mark.parametrize("changes, message", [
    ({"precision": "fp16", "optim": {"name": "lbfgs", "lr": 1.0}, "model": {"name": "mlp", "hidden": [4]}},
     "precision: 'fp16' rounds the losses a line search compares"),
    ({"accumulate": 2, "data": {**MOONS, "batch_mode": "fullbatch"}}, "accumulate: 2 sums gradients over batches"),
])
def test_the_recipe_refuses_what_a_line_search_or_full_batch_cannot_do(changes, message):
    with pytest.raises(RecipeError, match=message):
        build(load_recipe(recipe(**changes)))


def test_accumulate_must_be_a_positive_number_of_batches():
    with pytest.raises(RecipeError, match="accumulate"):
        load_recipe(recipe(accumulate=0))
