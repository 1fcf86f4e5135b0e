"""Recipes: validation messages name the field, the bad value and what is accepted."""
from __future__ import annotations

import pytest

from trainlab.errors import RecipeError, TrainlabError
from trainlab.recipe import apply_overrides, load_recipe


def problems(data: dict) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        load_recipe(data)
    return caught.value.problems


def test_unknown_optimizer_suggests_closest(tiny_recipe):
    tiny_recipe["optim"]["name"] = "adamm"
    from trainlab.registry import optimizers

    assert problems(tiny_recipe) == [
        f"optim.name: 'adamm' is not a known optimizer; did you mean 'adam'? Known: {', '.join(optimizers.names())}"
    ]


def test_wrong_type_names_field_and_value(tiny_recipe):
    tiny_recipe["optim"]["lr"] = "fast"
    [line] = problems(tiny_recipe)
    assert line.startswith("optim.lr: 'fast' is not valid")


def test_negative_epochs(tiny_recipe):
    tiny_recipe["stopping"]["epochs"] = -3
    assert problems(tiny_recipe) == ["stopping.epochs: -3 is not valid: Input should be greater than 0"]


def test_missing_dataset_lists_known_datasets(tiny_recipe):
    del tiny_recipe["data"]["name"]
    [line] = problems(tiny_recipe)
    assert line.startswith("data.name: required field is missing; known datasets: mnist1d, digits")


def test_missing_data_section():
    assert problems({"name": "x"}) == ["data: required field is missing"]


def test_unknown_section_suggests_closest(tiny_recipe):
    tiny_recipe["optimizer"] = tiny_recipe.pop("optim")
    [line] = problems(tiny_recipe)
    assert line.startswith("optimizer: unknown field; did you mean 'optim'? Accepted: name, seed")


def test_unknown_field_in_fixed_section(tiny_recipe):
    tiny_recipe["stopping"]["epoch"] = 3
    [line] = problems(tiny_recipe)
    assert line == "stopping.epoch: unknown field; did you mean 'epochs'? Accepted: epochs, early"


def test_unknown_factory_parameter_suggests_closest(tiny_recipe):
    tiny_recipe["optim"] = {"name": "sgd", "lr": 0.1, "momentom": 0.9}
    (line,) = problems(tiny_recipe)
    assert line.startswith("optim.momentom: unknown parameter of optimizer 'sgd'; did you mean 'momentum'? "
                           "Accepted: lr, momentum, nesterov, weight_decay")


def test_factory_parameter_type_is_checked(tiny_recipe):
    tiny_recipe["model"]["hidden"] = "wide"
    [line] = problems(tiny_recipe)
    assert line.startswith("model.hidden: 'wide' is not valid")


def test_unknown_activation_and_init_both_reported(tiny_recipe):
    tiny_recipe["model"].update(activation="rleu", init="hee")
    activation, init = problems(tiny_recipe)
    assert activation.startswith("model.activation: 'rleu' is not a known activation; did you mean 'relu'? Known: ")
    assert init.startswith("model.init: 'hee' is not a known initializer; did you mean 'he'? Known: ")


def test_activation_with_bad_parameter_names_the_path(tiny_recipe):
    tiny_recipe["model"]["activation"] = {"name": "leaky_relu", "alpah": 0.1}
    [line] = problems(tiny_recipe)
    assert line.startswith("model.activation.alpah:")


def test_bare_names_and_defaults(tiny_recipe):
    tiny_recipe["schedule"] = "step"
    recipe = load_recipe(tiny_recipe)
    assert recipe.schedule.name == "step" and recipe.data.preprocess.name == "zscore"
    assert recipe.model.params() == {"activation": "tanh", "hidden": [16]}


def test_overrides_parse_yaml_values_and_extend_bare_names(tiny_recipe):
    tiny_recipe["schedule"] = "step"
    apply_overrides(tiny_recipe, ["optim.lr=3e-3", "schedule.gamma=0.1", "model.hidden=[8, 8]", "data.shuffle=false"])
    recipe = load_recipe(tiny_recipe)
    assert recipe.optim.lr == 0.003 and recipe.schedule.params() == {"gamma": 0.1}
    assert recipe.model.params()["hidden"] == [8, 8] and recipe.data.shuffle is False


def test_bad_override_syntax(tiny_recipe):
    with pytest.raises(RecipeError, match="expected key.path=value"):
        load_recipe(tiny_recipe, ["optim.lr"])


def test_yaml_round_trip(tiny_recipe, tmp_path):
    recipe = load_recipe(tiny_recipe)
    path = tmp_path / "r.yaml"
    path.write_text(recipe.to_yaml())
    assert load_recipe(path) == recipe


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  name: moons\n optim: [\n")
    with pytest.raises(RecipeError, match=r"bad.yaml: line \d+ is not valid YAML"):
        load_recipe(path)


def test_missing_file():
    with pytest.raises(TrainlabError, match="recipe file nope.yaml does not exist"):
        load_recipe("nope.yaml")
