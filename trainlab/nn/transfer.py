"""Transfer learning: copy weights from another network, give it a new head, freeze and unfreeze layers.

The notes (seed 003, "Transferencia de aprendizaje"): take a network trained on a large set for one
task, keep its feature-extracting part and re-train the last layers on a small set for another
task; re-training only the end of the network avoids overfitting the few examples.

A **layer** is a module that owns parameters itself (a Linear, a convolution, a batch norm), in the
model's module order. Recipes name layers with *selectors*:

- an integer ``i``: the i-th layer (0-based; negative counts from the end, ``-1`` is the head);
- ``"head"``: the output layer (the last layer on the classification path; for a model with a
  ``classifier`` part, that part's last layer); ``"features"``: every layer but the head;
- any other string: a module name as in ``model.named_modules()`` (``"0"``, ``"layer4"``,
  ``"pretrained"``), with everything inside it.

Freezing sets ``requires_grad = False``: a frozen parameter gets no gradient, so torch's optimizers
skip it and it stays bit-identical (batch-norm *buffers* inside a frozen layer still update their
running statistics in training mode). Frozen parameters stay in the optimizer, so a layer unfrozen
later (``unfreeze_at``, gradual unfreezing) trains from that epoch on with the optimizer's settings.
Which parameters are frozen is a function of the epoch alone (:meth:`FreezePlan.frozen_at`), so a
resumed run freezes exactly what the uninterrupted one did.

Copying uses ``Tensor.copy_`` on the model's own tensors (``torch.nn.Module.load_state_dict`` would
refuse a partial copy or report only the first problem); this module adds the selection of layers,
the one-line list of every mismatch, and the SHA-256 of the weights file for the run's record.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from torch import nn

from trainlab.errors import RecipeError
from trainlab.nn.init import apply_init

Selector = int | str


def parameter_layers(model: nn.Module) -> list[str]:
    """Names of the modules that own parameters themselves, in module order."""
    return [name for name, module in model.named_modules() if any(True for _ in module.parameters(recurse=False))]


def head_name(model: nn.Module) -> str:
    """The output layer: the last layer of the classification path (inside ``model.classifier``
    when there is one, so a decoder registered after it is never taken for the head)."""
    prefix, part = "", model
    while isinstance(getattr(part, "classifier", None), nn.Module):
        prefix, part = f"{prefix}classifier.", part.classifier
    layers = parameter_layers(part)
    if not layers:
        raise RecipeError(["model: the model has no layer with parameters, so it has no head"])
    return prefix + layers[-1] if layers[-1] else prefix.rstrip(".")


def _under(key: str, module_name: str) -> bool:
    return module_name == "" or key == module_name or key.startswith(module_name + ".")


def select_modules(model: nn.Module, selectors: Iterable[Selector], field_name: str) -> list[str]:
    """Module names for ``selectors`` (see the module docstring); unknown ones are a RecipeError
    naming ``field_name``, the selector and the accepted values."""
    layers, modules = parameter_layers(model), dict(model.named_modules())
    head, chosen, problems = head_name(model), [], []
    for selector in selectors:
        if isinstance(selector, bool) or not isinstance(selector, (int, str)):
            problems.append(f"{field_name}: {selector!r} is not a layer; give an index, a module name, "
                            "'features' or 'head'")
        elif isinstance(selector, int) or (selector.lstrip("-").isdigit() and selector not in modules):
            index = int(selector)
            if not -len(layers) <= index < len(layers):
                problems.append(f"{field_name}: layer index {index} is out of range; this model has "
                                f"{len(layers)} layers with parameters (0 to {len(layers) - 1}, or -1 for the head)")
            else:
                chosen.append(layers[index])
        elif selector == "head":
            chosen.append(head)
        elif selector == "features":
            chosen += [name for name in layers if not _under(name, head)]
        elif selector in modules:
            chosen.append(selector)
        else:
            problems.append(f"{field_name}: '{selector}' is not a module of this model; accepted: 'features', "
                            f"'head', an index, or one of {', '.join(repr(n) for n in layers)}")
    if problems:
        raise RecipeError(problems)
    return chosen


def select_parameters(model: nn.Module, selectors: Iterable[Selector], field_name: str) -> set[str]:
    """Names (as in ``named_parameters``) of the parameters inside the selected modules."""
    modules = select_modules(model, selectors, field_name)
    return {name for name, _ in model.named_parameters() if any(_under(name, m) for m in modules)}


def parameter_rates(model: nn.Module, lr_groups: dict[Selector, float]) -> dict[int, float]:
    """``optim.lr_groups`` ({layers: rate}) as {id(parameter): rate} for
    :func:`trainlab.optim.optimizers.discriminative_rates`; a parameter named twice gets the later rate."""
    named = dict(model.named_parameters())
    rates = {}
    for selector, rate in lr_groups.items():
        for name in select_parameters(model, [selector], f"optim.lr_groups.{selector}"):
            rates[id(named[name])] = rate
    return rates


# ---- weights from another network ----


@dataclass(frozen=True)
class Weights:
    """Tensors read from a weights file, with where they came from (path and SHA-256 of the file)."""

    tensors: dict[str, torch.Tensor]
    path: Path
    sha256: str

    def record(self) -> dict[str, Any]:
        return {"path": str(self.path.resolve()), "sha256": self.sha256}


def read_weights(path: str | Path, field_name: str = "model.init_from") -> Weights:
    """A state dict from a ``.safetensors`` file: a plain one (keys as in ``state_dict()``) or a
    trainlab checkpoint's tensors (keys ``model.*``, whose prefix is removed; the rest is ignored)."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError([f"{field_name}: {path} does not exist; give a run directory or a .safetensors file"])
    blob = path.read_bytes()
    try:
        tensors = load_safetensors(blob)
    except SafetensorError as e:
        raise RecipeError([f"{field_name}: {path} is not a readable safetensors file ({e})"]) from None
    if any(k.startswith("model.") for k in tensors):
        tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return Weights(tensors, path, hashlib.sha256(blob).hexdigest())


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, t.shape)) + ("," if t.dim() == 1 else "") + ")"


@torch.no_grad()
def copy_weights(model: nn.Module, weights: Weights, layers: Sequence[Selector] | None = None,
                 skip: Iterable[str] = (), field_name: str = "model.init_from") -> list[str]:
    """Copy ``weights`` into ``model``: every parameter and buffer (or those inside ``layers``),
    except the modules in ``skip``. Returns the copied keys. Every missing or mis-shaped tensor is
    listed in one RecipeError, with the shapes (file → model)."""
    wanted = list(model.state_dict(keep_vars=True).items())
    if layers is not None:
        modules = select_modules(model, layers, f"{field_name}.layers")
        wanted = [(k, v) for k, v in wanted if any(_under(k, m) for m in modules)]
    skip = list(skip)
    wanted = [(k, v) for k, v in wanted if not any(_under(k, m) for m in skip)]
    missing = [k for k, _ in wanted if k not in weights.tensors]
    mismatched = [f"{k} {_shape(weights.tensors[k])} → {_shape(v)}" for k, v in wanted
                  if k in weights.tensors and weights.tensors[k].shape != v.shape]
    problems = []
    if mismatched:
        hint = ("; give the model a new head with model.replace_head: {classes: K}"
                if all(_under(m.split(" ")[0], head_name(model)) for m in mismatched) else
                "; take only the layers that fit with init_from: {path: …, layers: […]}")
        problems.append(f"{field_name}: {len(mismatched)} tensors of {weights.path} do not fit this model "
                        f"(file → model): {', '.join(mismatched)}{hint}")
    if missing:
        own = {k for k, _ in model.state_dict(keep_vars=True).items()}
        unused = sorted(k for k in weights.tensors if k not in own)  # the file does not keep an order
        spare = f"; the file's tensors this model does not have: {', '.join(unused[:10])}" if unused else ""
        problems.append(f"{field_name}: {weights.path} lacks {len(missing)} tensors this model needs: "
                        f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}{spare}")
    if problems:
        raise RecipeError(problems)
    for key, target in wanted:
        target.copy_(weights.tensors[key])
    return [k for k, _ in wanted]


def replace_head(model: nn.Module, classes: int, init: Any = "default") -> str:
    """Put a new ``nn.Linear(in_features, classes)`` in place of the head, initialized with ``init``
    (an initializer spec, as in recipes); returns the head's name."""
    name = head_name(model)
    old = model.get_submodule(name)
    if not isinstance(old, nn.Linear):
        raise RecipeError([(f"model.replace_head: the head '{name}' is a {type(old).__name__}, not a Linear layer; "
                            "replace_head needs a model that ends in a Linear layer")])
    if classes < 1:
        raise RecipeError([f"model.replace_head.classes: {classes} is not valid; give the number of classes (≥ 1)"])
    new = nn.Linear(old.in_features, classes, bias=old.bias is not None)
    apply_init(new, init)
    parent, _, attribute = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attribute, new)
    return name


# ---- freezing ----


@dataclass(frozen=True)
class FreezePlan:
    """Which parameters are frozen in which epoch: ``frozen`` from the start, minus those that
    ``unfreeze`` releases at epoch e (1-based: from epoch e on they train)."""

    frozen: frozenset[str] = frozenset()
    unfreeze: tuple[tuple[int, frozenset[str]], ...] = field(default=())

    def frozen_at(self, epoch: int) -> set[str]:
        """Names frozen during epoch ``epoch`` (1-based)."""
        released = set().union(*(names for e, names in self.unfreeze if e <= epoch))
        return set(self.frozen) - released

    def __bool__(self) -> bool:
        return bool(self.frozen)


def freeze_plan(model: nn.Module, freeze: Sequence[Selector], unfreeze_at: dict[int, Sequence[Selector]],
                always: Iterable[str] = ()) -> FreezePlan:
    """The plan for ``model.freeze`` and ``model.unfreeze_at`` (``always``: parameter names frozen
    unless ``unfreeze_at`` releases them, e.g. a pretrained encoder)."""
    frozen = select_parameters(model, freeze, "model.freeze") | set(always)
    steps = []
    for epoch, selectors in sorted(unfreeze_at.items()):
        names = select_parameters(model, selectors, f"model.unfreeze_at.{epoch}")
        never = sorted(names - frozen)
        if never:
            raise RecipeError([(f"model.unfreeze_at.{epoch}: {', '.join(never[:5])} are not frozen to begin with; "
                                "unfreeze only layers listed in model.freeze")])
        steps.append((epoch, frozenset(names)))
    return FreezePlan(frozenset(frozen), tuple(steps))


def set_frozen(model: nn.Module, frozen: set[str], controlled: Iterable[str]) -> None:
    """For each parameter named in ``controlled``: ``requires_grad = False`` if it is in ``frozen``,
    True otherwise; the others are left as they are."""
    controlled = set(controlled)
    for name, parameter in model.named_parameters():
        if name in controlled:
            parameter.requires_grad_(name not in frozen)
