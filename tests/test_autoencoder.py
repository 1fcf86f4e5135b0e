"""Autoencoders: alone (targets are the inputs), and the notes' three options as a classifier's regularizer."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_resume import _Kill  # stops a run right after a step, as a SIGKILL would
from torch.nn import functional as F

from trainlab.data.datasets import digits
from trainlab.data.split import split_dataset
from trainlab.errors import RecipeError
from trainlab.nn.autoencoder import Autoencoder, JointAutoencoder, OnPretrained, reconstruction_targets
from trainlab.recipe import load_recipe
from trainlab.run import build, load_model, resume_run, run_recipe
from trainlab.train.checkpoint import load_checkpoint, split_prefix

DIGITS = {"name": "digits", "batch_size": 64, "preprocess": "zscore"}


def recipe(model: dict | None = None, **rest) -> dict:
    return {"name": "ae", "seed": 2, "data": DIGITS, "model": {"name": "mlp", "hidden": [32, 16], **(model or {})},
            "optim": {"name": "adam", "lr": 0.003}, "stopping": {"epochs": 2}, **rest}


def pretrain(use: str, **extra) -> dict:
    return {"autoencoder": {"hidden": [32], "code": 8}, "use": use, "epochs": 2, **extra}


# ---- alone ----


def test_autoencoder_alone_reports_its_reconstruction_error(tmp_path):
    spec = recipe({"name": "autoencoder", "hidden": [32], "code": 8}, data={**DIGITS, "target_scale": "none"})
    result = run_recipe(load_recipe(spec), tmp_path)
    status = json.loads((result.run_dir / "run.json").read_text())
    assert status["data"]["task"] == "regression" and status["data"]["n_outputs"] == 64
    test_inputs = split_dataset(reconstruction_targets(digits(seed=2)), 0.1, 0.2, 2).test[0]  # the run's, raw
    predictor = load_model(result.run_dir)
    assert isinstance(predictor.model, Autoencoder)
    reconstructed = predictor.predict(test_inputs)
    # test_loss is the MSE between the reconstructions and the raw inputs (float32 sums in another order: 1e-5)
    assert status["test"]["test_loss"] == pytest.approx(float(np.mean((reconstructed - test_inputs) ** 2)), rel=1e-5)


def test_the_decoder_mirrors_the_encoder_unless_given():
    model = build(load_recipe(recipe({"name": "autoencoder", "hidden": [32, 16], "code": 4}))).model
    widths = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [(64, 32), (32, 16), (16, 4), (4, 16), (16, 32), (32, 64)]
    model = build(load_recipe(recipe({"name": "autoencoder", "hidden": [32], "code": 4, "decoder": []}))).model
    assert [m.out_features for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)] == [64]


# ---- option 3: joint loss ----


def test_joint_loss_is_beta_classification_plus_one_minus_beta_reconstruction():
    setup = build(load_recipe(recipe({"ae_weight": 0.3})))
    model = setup.model
    assert isinstance(model, JointAutoencoder)
    x, y = next(iter(setup.train.epoch(0)))
    model.eval()
    with torch.no_grad():
        logits = model(x)
        got = setup.trainer.loss_fn(logits, y)
        h = model.classifier[:-1](x)
        by_hand = 0.7 * F.cross_entropy(model.classifier[-1](h), y) + 0.3 * F.mse_loss(model.decoder(h), x)
    torch.testing.assert_close(got, by_hand, rtol=1e-6, atol=0)  # the same float32 ops in another order
    assert [m.out_features for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)] == [32, 64]
    explicit = build(load_recipe(recipe({"ae_weight": 0.3, "ae_decoder": [24, 48]}))).model
    assert [m.out_features for m in explicit.decoder.modules() if isinstance(m, torch.nn.Linear)] == [24, 48, 64]


def test_joint_training_lowers_the_reconstruction_error_and_predicts_classes(tmp_path):
    spec = recipe({"ae_weight": 0.5}, stopping={"epochs": 4})
    setup = build(load_recipe(spec))
    x = setup.val.x

    def reconstruction_error() -> float:
        setup.model.eval()
        with torch.no_grad():
            setup.model(x)
        return setup.model.reconstruction_errors.mean().item()

    before = reconstruction_error()
    setup.trainer.fit(setup.train, setup.val, 4)
    assert reconstruction_error() < 0.8 * before  # measured 0.97 → 0.55; the decoder learns
    result = run_recipe(load_recipe(spec), tmp_path)
    probabilities = load_model(result.run_dir).predict(np.zeros((3, 64), dtype=np.float32))
    assert probabilities.shape == (3, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


# ---- options 1 and 2: pretrain, then classify codes or reconstructions ----


@pytest.mark.parametrize("use, width", [("codes", 8), ("reconstructions", 64)])
def test_pretrained_autoencoder_feeds_the_classifier_and_stays_frozen(use, width, tmp_path):
    spec = recipe(pretrain=pretrain(use))
    setup = build(load_recipe(spec))
    model = setup.model
    assert isinstance(model, OnPretrained) and model.classifier[1].in_features == width
    trained = {k: v.clone() for k, v in model.pretrained.state_dict().items()}
    record = setup.sources["pretrain"]
    assert record["use"] == use and record["epochs"] == 2
    assert record["inputs"] == setup.data_info["n_train"] + setup.data_info["n_val"]  # never the test split
    setup.trainer.fit(setup.train, setup.val, 2)
    assert all(torch.equal(v, trained[k]) for k, v in model.pretrained.state_dict().items())
    result = run_recipe(load_recipe(spec), tmp_path)
    status = json.loads((result.run_dir / "run.json").read_text())
    assert status["weights"]["pretrain"]["use"] == use
    predictor = load_model(result.run_dir)  # rebuilt from the recipe without pretraining, weights from the checkpoint
    x = np.random.default_rng(0).normal(size=(4, 64)).astype("float32")
    with torch.no_grad():
        direct = torch.softmax(result_model(result.run_dir)(torch.as_tensor(x)), dim=1).numpy()
    np.testing.assert_allclose(predictor.predict(x), direct, rtol=0, atol=1e-6)  # the same float32 modules


def result_model(run_dir):
    """The run's final network with its preprocessing in front, rebuilt by build() and loaded by hand."""
    from trainlab.run import restore
    from trainlab.rundir import RunDir

    setup = build(RunDir(run_dir).recipe())
    restore(setup, RunDir(run_dir).latest_checkpoint())
    setup.model.eval()
    return lambda x: setup.model(setup.preprocessor(x))


def test_pretrained_part_unfreezes_when_asked():
    setup = build(load_recipe(recipe({"unfreeze_at": {2: ["pretrained"]}}, pretrain=pretrain("codes"))))
    before = {k: v.clone() for k, v in setup.model.pretrained.state_dict().items()}
    setup.trainer.fit(setup.train, setup.val, 1)
    assert all(torch.equal(v, before[k]) for k, v in setup.model.pretrained.state_dict().items())
    setup.trainer.fit(setup.train, setup.val, 2)
    assert not all(torch.equal(v, before[k]) for k, v in setup.model.pretrained.state_dict().items())


def test_pretrain_on_other_data_uses_its_inputs():
    other = {"name": "digits", "val_fraction": 0.0, "test_fraction": 0.5}
    setup = build(load_recipe(recipe(pretrain=pretrain("codes", data=other))))
    assert setup.sources["pretrain"]["inputs"] == 898  # 1797 digits, 899 held out as that set's test split


def test_bad_autoencoder_settings_are_recipe_errors():
    with pytest.raises(RecipeError, match=r"pretrain.autoencoder: .*cod: Extra inputs.*accepted: hidden, code"):
        load_recipe(recipe(pretrain={"autoencoder": {"cod": 8}}))
    with pytest.raises(RecipeError, match="pretrain .*and ae_weight .*are alternatives"):
        build(load_recipe(recipe({"ae_weight": 0.5}, pretrain=pretrain("codes"))))
    with pytest.raises(RecipeError, match="model: ae_weight needs a model that is a sequence of layers ending in"):
        build(load_recipe(recipe({"name": "autoencoder", "hidden": [8], "ae_weight": 0.5})))
    with pytest.raises(RecipeError, match=r"model.ae_weight: 1.0 is not valid"):
        load_recipe(recipe({"ae_weight": 1.0}))
    with pytest.raises(RecipeError, match="pretrain.optim.name"):
        build(load_recipe(recipe(pretrain={**pretrain("codes"), "optim": {"name": "adamm"}})))



@pytest.mark.parametrize("extra", [{"pretrain": pretrain("codes")}, {"model": {"hidden": [32, 16], "ae_weight": 0.4}}],
                         ids=["pretrain", "joint"])
def test_resumed_runs_match_uninterrupted_ones(extra, tmp_path):
    spec = {**recipe(stopping={"epochs": 3}, checkpoint={"every": 1}), **extra}
    spec["model"] = {"name": "mlp", **spec["model"]}
    plain = run_recipe(load_recipe(spec), tmp_path / "plain").run_dir
    with pytest.raises(KeyboardInterrupt):
        run_recipe(load_recipe(spec), tmp_path / "killed", output=[_Kill(step=30)])  # inside epoch 2 (23 batches an epoch)
    killed = next((tmp_path / "killed").iterdir())
    resume_run(killed)  # the pretraining runs again (same seed); the checkpoint then restores every weight
    got, expected = (split_prefix(load_checkpoint(d / "checkpoints" / "epoch-0003.json")[0], "model")
                     for d in (killed, plain))
    assert expected and all(torch.equal(got[k], expected[k]) for k in expected)
