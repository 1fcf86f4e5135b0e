"""Transfer learning: init_from, replace_head, freeze, gradual unfreezing, per-group rates, torchvision names."""
from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from test_resume import _Kill  # stops a run right after a step, as a SIGKILL would

from trainlab.cli import main
from trainlab.errors import RecipeError, TrainlabError
from trainlab.recipe import load_recipe
from trainlab.run import build, resume_run, run_recipe
from trainlab.rundir import latest_checkpoint
from trainlab.train.checkpoint import load_checkpoint, split_prefix

MOONS = {"name": "moons", "n_samples": 256, "batch_size": 32}
SPIRALS = {"name": "spirals", "n_samples": 300, "n_classes": 3, "batch_size": 30}


def recipe(model: dict | None = None, optim: dict | None = None, data: dict = MOONS, **rest) -> dict:
    return {"name": "transfer", "seed": 3, "data": data, "model": {"name": "mlp", "hidden": [16, 8], **(model or {})},
            "optim": optim or {"name": "adam", "lr": 0.01}, "stopping": {"epochs": 3}, **rest}


def source_file(tmp_path, n_outputs: int = 2) -> tuple:
    """A state dict of an mlp 2 → 16 → 8 → n_outputs, saved by the test as a plain .safetensors file."""
    torch.manual_seed(123)
    source = build(load_recipe(recipe(data=MOONS if n_outputs == 2 else SPIRALS))).model
    path = tmp_path / "source.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, path)
    return path, source.state_dict()


# ---- init_from ----


def test_init_from_a_file_copies_every_tensor_exactly(tmp_path):
    path, weights = source_file(tmp_path)
    model = build(load_recipe(recipe({"init_from": str(path), "init": "he_normal"}, seed=99))).model
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key


def test_init_from_layers_copies_only_those(tmp_path):
    path, weights = source_file(tmp_path)
    fresh = build(load_recipe(recipe(seed=99))).model.state_dict()
    model = build(load_recipe(recipe({"init_from": {"path": str(path), "layers": [0]}}, seed=99))).model.state_dict()
    assert torch.equal(model["1.weight"], weights["1.weight"]) and torch.equal(model["1.bias"], weights["1.bias"])
    for key in ("3.weight", "3.bias", "5.weight", "5.bias"):  # the other layers keep this run's own initialization
        assert torch.equal(model[key], fresh[key]) and not torch.equal(model[key], weights[key]), key


def test_mismatched_shapes_are_listed_in_one_error(tmp_path):
    path, _ = source_file(tmp_path, n_outputs=3)  # a 3-class head; moons has 2 classes
    with pytest.raises(RecipeError) as error:
        build(load_recipe(recipe({"init_from": str(path)})))
    message = error.value.problems[0]
    assert "2 tensors" in message and "5.weight (3, 8) → (2, 8)" in message and "5.bias (3,) → (2,)" in message
    assert "replace_head" in message  # only the head differs: the remedy is a new head
    wider = build(load_recipe(recipe({"hidden": [32, 8]}))).model
    save_file({k: v.contiguous() for k, v in wider.state_dict().items()}, tmp_path / "wide.safetensors")
    with pytest.raises(RecipeError) as error:
        build(load_recipe(recipe({"init_from": str(tmp_path / "wide.safetensors")})))
    assert "1.weight (32, 2) → (16, 2)" in str(error.value) and "3.weight (8, 32) → (8, 16)" in str(error.value)
    assert "layers" in str(error.value)


def test_missing_tensors_are_named_with_the_files_spare_ones(tmp_path):
    with_dropout = build(load_recipe(recipe({"hidden": [16], "dropout": 0.5}))).model  # Linear, ReLU, Dropout, Linear
    save_file({k: v.contiguous() for k, v in with_dropout.state_dict().items()}, tmp_path / "d.safetensors")
    with pytest.raises(RecipeError) as error:
        build(load_recipe(recipe({"hidden": [16], "init_from": str(tmp_path / "d.safetensors")})))
    assert "lacks 2 tensors this model needs: 3.weight, 3.bias; the file's tensors this model does not have: " \
           "4.bias, 4.weight" in str(error.value)


def test_replace_head_takes_the_rest_and_a_new_head(tmp_path):
    path, weights = source_file(tmp_path, n_outputs=3)
    setup = build(load_recipe(recipe({"init_from": str(path), "replace_head": {"classes": 2}})))
    state = setup.model.state_dict()
    for key in ("1.weight", "1.bias", "3.weight", "3.bias"):
        assert torch.equal(state[key], weights[key]), key
    assert state["5.weight"].shape == (2, 8)
    assert setup.sources["replace_head"] == {"layer": "5", "classes": 2}
    with pytest.raises(RecipeError, match=r"replace_head.classes: 5, but data 'moons' has 2 outputs"):
        build(load_recipe(recipe({"replace_head": {"classes": 5}})))


def test_run_json_records_the_weights_file_and_its_sha256(tmp_path):
    source = run_recipe(load_recipe(recipe()), tmp_path / "runs")
    target = run_recipe(load_recipe(recipe({"init_from": str(source.run_dir), "replace_head": True})), tmp_path / "runs")
    recorded = json.loads((target.run_dir / "run.json").read_text())["weights"]["init_from"]
    weights_file = latest_checkpoint(source.run_dir).with_suffix(".safetensors")
    assert recorded["path"] == str(weights_file.resolve())
    assert recorded["sha256"] == hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert recorded["tensors"] == 4  # two hidden layers' weights and biases; the head is new


def test_init_from_errors_name_the_path(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        build(load_recipe(recipe({"init_from": str(tmp_path / "missing.safetensors")})))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError, match="directory without checkpoints"):
        build(load_recipe(recipe({"init_from": str(tmp_path / "empty")})))
    (tmp_path / "junk.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(RecipeError, match="not a readable safetensors file"):
        build(load_recipe(recipe({"init_from": str(tmp_path / "junk.safetensors")})))


# ---- freezing ----


def test_freeze_keeps_weights_bit_identical_while_the_head_trains(tmp_path):
    path, weights = source_file(tmp_path)
    setup = build(load_recipe(recipe({"init_from": str(path), "freeze": ["features"]},
                                     optim={"name": "adamw", "lr": 0.05, "weight_decay": 0.1})))
    setup.trainer.fit(setup.train, setup.val, 3)
    state = setup.model.state_dict()
    for key in ("1.weight", "1.bias", "3.weight", "3.bias"):  # weight decay too leaves them alone
        assert torch.equal(state[key], weights[key]), key
    assert not torch.equal(state["5.weight"], weights["5.weight"])


def test_freeze_by_index_and_by_name():
    setup = build(load_recipe(recipe({"freeze": [0, "3"]})))
    assert {n: p.requires_grad for n, p in setup.model.named_parameters()} == {
        "1.weight": False, "1.bias": False, "3.weight": False, "3.bias": False, "5.weight": True, "5.bias": True}
    setup = build(load_recipe(recipe({"freeze": ["head"]})))
    assert [n for n, p in setup.model.named_parameters() if not p.requires_grad] == ["5.weight", "5.bias"]


def test_bad_layer_selectors_say_what_is_accepted():
    with pytest.raises(RecipeError) as error:
        build(load_recipe(recipe({"freeze": ["encoder", 7]})))
    first, second = error.value.problems
    assert "model.freeze: 'encoder' is not a module of this model" in first and "'1', '3', '5'" in first
    assert "layer index 7 is out of range; this model has 3 layers" in second
    with pytest.raises(RecipeError, match="unfreeze_at.2: .* are not frozen to begin with"):
        build(load_recipe(recipe({"freeze": [0], "unfreeze_at": {2: [1]}})))


def test_gradual_unfreezing_trains_a_layer_from_its_epoch_on():
    setup = build(load_recipe(recipe({"freeze": ["features"], "unfreeze_at": {2: [1], 3: [0]}})))
    model, trainer = setup.model, setup.trainer
    seen = []
    for epoch in (1, 2, 3):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        trainer.fit(setup.train, setup.val, epoch)
        seen.append({k for k, v in model.state_dict().items() if not torch.equal(v, before[k])})
    assert seen == [{"5.weight", "5.bias"}, {"3.weight", "3.bias", "5.weight", "5.bias"},
                    {"1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"}]



def rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def test_resume_across_an_unfreeze_epoch_is_exact(tmp_path):
    spec = recipe({"freeze": ["features"], "unfreeze_at": {3: ["features"]}}, optim={"name": "adam", "lr": 0.01,
                  "lr_groups": {"features": 0.001}}, stopping={"epochs": 4}, checkpoint={"every": 1})
    plain = run_recipe(load_recipe(spec), tmp_path / "plain").run_dir
    with pytest.raises(KeyboardInterrupt):  # killed inside epoch 2 (7 batches an epoch); resumes from epoch-0001
        run_recipe(load_recipe(spec), tmp_path / "killed", output=[_Kill(10)])
    killed = next((tmp_path / "killed").iterdir())
    resume_run(killed)
    assert rows(killed) == rows(plain)
    got, expected = (split_prefix(load_checkpoint(d / "checkpoints" / "epoch-0004.json")[0], "model")
                     for d in (killed, plain))
    assert all(torch.equal(got[k], expected[k]) for k in expected)


# ---- discriminative learning rates ----


def test_lr_groups_give_each_group_its_stated_rate():
    spec = recipe({"hidden": [16, 8]}, optim={"name": "sgd", "lr": 0.1, "lr_groups": {"features": 0.01, 0: 0.001}})
    setup = build(load_recipe(spec))
    model, optimizer = setup.model, setup.trainer.optimizer
    rate_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert {n: rate_of[id(p)] for n, p in named.items()} == {  # the later entry (0) wins for layer 0
        "1.weight": 0.001, "1.bias": 0.001, "3.weight": 0.01, "3.bias": 0.01, "5.weight": 0.1, "5.bias": 0.1}
    before = {n: p.detach().clone() for n, p in named.items()}
    x, y = next(iter(setup.train.epoch(0)))
    setup.trainer.step(x, y)  # plain SGD: w ← w − η_g·g for each group
    for n, p in named.items():
        # float32: the update is recomputed from the same gradient; 1e-7 is a few ulps of |w| ≤ 1
        torch.testing.assert_close(p.detach(), before[n] - rate_of[id(p)] * p.grad, rtol=0, atol=1e-7)
    assert optimizer.param_groups[0]["lr"] == 0.1  # the first group keeps η: the rate a run logs


def test_a_schedule_scales_every_group_alike():
    spec = recipe(optim={"name": "sgd", "lr": 0.1, "lr_groups": {"features": 0.01}},
                  schedule={"name": "step", "step_size": 1, "gamma": 0.5})
    setup = build(load_recipe(spec))
    setup.trainer.fit(setup.train, None, 2)
    assert sorted({round(g["lr"], 12) for g in setup.trainer.optimizer.param_groups}) == [0.0025, 0.025]


def test_lr_groups_refuse_single_group_optimizers_and_lr_fan_in():
    with pytest.raises(RecipeError, match="optim.lr_groups: 'LBFGS' keeps one parameter group"):
        build(load_recipe(recipe(optim={"name": "lbfgs", "lr": 1.0, "lr_groups": {"head": 0.1}})))
    with pytest.raises(RecipeError, match="either lr_fan_in or lr_groups"):
        build(load_recipe(recipe(optim={"name": "sgd", "lr": 0.1, "lr_fan_in": True, "lr_groups": {"head": 0.1}})))
    with pytest.raises(RecipeError, match="optim.lr_groups"):
        load_recipe(recipe(optim={"name": "sgd", "lr": 0.1, "lr_groups": {"head": -1}}))


# ---- torchvision models by name ----


def _torchvision_imports() -> bool:
    try:
        return importlib.util.find_spec("torchvision") is not None and bool(__import__("torchvision.models"))
    except Exception:  # noqa: BLE001  (installed but built for another torch)
        return False


def test_torchvision_names_are_listed(capsys):
    main(["list", "models"])
    out = capsys.readouterr().out
    for name in ("resnet18", "mobilenet_v3_small", "autoencoder"):
        assert name in out


@pytest.mark.skipif(_torchvision_imports(), reason="torchvision imports here: the missing-package error cannot happen")
def test_a_torchvision_model_without_torchvision_is_one_line_with_the_pip_command():
    spec = {**recipe(), "model": {"name": "resnet18"}}
    with pytest.raises(TrainlabError) as error:
        build(load_recipe(spec))
    message = str(error.value)
    assert "\n" not in message and "pip install" in message and message.startswith("model: torchvision models need")


@pytest.mark.skipif(not _torchvision_imports(), reason="torchvision does not import beside this torch build")
def test_resnet18_fine_tunes_from_a_state_dict_saved_here(tmp_path):
    import numpy as np
    import torchvision

    from trainlab.data.datasets import Dataset

    network = torchvision.models.resnet18(num_classes=1000)
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, tmp_path / "resnet18.safetensors")
    rng = np.random.default_rng(0)
    data = Dataset("classification", rng.normal(size=(40, 3, 32, 32)).astype("float32"), rng.integers(0, 4, 40),
                   class_names=list("abcd"))
    spec = {"data": {"name": "memory", "batch_size": 8}, "stopping": {"epochs": 1},
            "model": {"name": "resnet18", "init_from": str(tmp_path / "resnet18.safetensors"),
                      "replace_head": True, "freeze": ["features"]}}
    setup = build(load_recipe(spec), data=data)
    assert setup.model.fc.out_features == 4
    assert torch.equal(setup.model.conv1.weight, network.conv1.weight)
