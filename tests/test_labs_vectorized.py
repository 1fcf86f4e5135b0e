"""Labs train an arm's seeds as one batched model (vectorized seeds) where the recipe allows, and
their numbers are those of training each seed on its own: every row and criterion identical (labs
run on one CPU thread, where vectorized seeds give each copy its separate run's bits). The lab's
note says which arms ran which way, and why an arm could not."""
from __future__ import annotations

import json

import pytest

from trainlab.cli import main
from trainlab.labs import get_lab
from trainlab.labs.training import ArmTraining, separate_seeds


def _numbers(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("seconds", "note", "files")}


@pytest.mark.parametrize("lab", ["C17", "C25"])
def test_a_vectorized_lab_gives_the_numbers_of_separate_seeds(lab, tmp_path, capsys):
    vectorized = get_lab(lab).run(True, None, seeds=2)
    vectorized.lab, vectorized.quick = lab, True
    assert "Seeds trained together as one batched model (vectorized seeds)" in vectorized.note
    assert main(["lab", lab, "--quick", "--seeds", "2", "--separate", "--out", str(tmp_path)]) == 0
    separate = json.loads((tmp_path / lab / "result.json").read_text())
    assert "Seeds trained one after another" in separate["note"] and "(--separate)" in separate["note"]
    assert "together" not in separate["note"]
    assert _numbers(json.loads(json.dumps(vectorized.to_dict()))) == _numbers(separate)


def test_an_arm_that_cannot_be_vectorized_says_why():
    training = ArmTraining()
    recipe = {"name": "t", "data": {"name": "moons", "n_samples": 100}, "model": {"name": "mlp", "hidden": [8]},
              "stopping": {"epochs": 1}}
    training.fit("plain", [{**recipe, "seed": s} for s in (0, 1)])
    training.fit("L2", [{**recipe, "seed": s, "penalties": [{"name": "l2", "weight": 0.01}]} for s in (0, 1)])
    training.fit("BN", [{**recipe, "seed": s, "model": {"name": "mlp", "hidden": [8], "batchnorm": True}}
                        for s in (0, 1)])
    assert training.note() == (
        "Seeds trained together as one batched model (vectorized seeds): plain. Seeds trained one after another: "
        "L2 (vectorized seeds do not support penalties); BN (model 'mlp' has the layer BatchNorm1d (supported: "
        "Flatten, Linear, elementwise activations, Dropout, Gaussian noise))."
    )
    with separate_seeds():
        training.fit("plain again", [{**recipe, "seed": s} for s in (0, 1)])
    assert training.how["plain again"] == "--separate"


def test_the_arm_training_example_in_docs_labs_md_runs(capsys):
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "labs.md").read_text()
    code = text.split("**Seeds trained together.**")[1].split("```python\n")[1].split("```")[0]
    exec(compile(code, "docs/labs.md", "exec"), {"__name__": "docs_labs_arm_training"})  # noqa: S102 (the docs example)
    assert "Seeds trained together as one batched model (vectorized seeds): baseline." in capsys.readouterr().out
