"""Autoencoders (seed 004, slides 24–26): the model, and the notes' three ways to regularize a classifier with one.

An autoencoder maps x → encoder → **u** (the code, usually of lower dimension, "al estilo PCA") →
decoder → x̂, trained on the mean squared error E‖x − x̂‖²; the decoder need not mirror the encoder.
As a regularizer for a classifier with few labels, the notes give three options:

1. train the autoencoder, then train the classifier on the codes **u**;
2. train the autoencoder, then train the classifier on the reconstructions **x̂**;
3. train both at once on J(θ) = β·J_clas(θ) + (1 − β)·J_ae(θ).

Options 1–2 are :class:`OnPretrained` (the trained autoencoder's encoder, or all of it, in front of a
classifier; the recipe's ``pretrain`` step trains it and keeps it frozen). Option 3 is
:class:`JointAutoencoder` (a decoder head on the classifier's last hidden layer) with
:class:`JointLoss`. :func:`make_network` builds any of them from a recipe's names, so a run and a
reloaded model (``trainlab predict``) get the same modules.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from trainlab.nn.activations import make_activation
from trainlab.registry import models

Activation = str | dict[str, Any]
Use = Literal["codes", "reconstructions"]


def _stack(widths: Sequence[int], activation: Activation, last_activation: bool = False) -> list[nn.Module]:
    """Linear layers through ``widths`` (the first is the input width), an activation after each but
    the last (unless ``last_activation``)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2 or last_activation:
            layers.append(make_activation(activation))
    return layers


class Autoencoder(nn.Module):
    """x → encoder → u → decoder → x̂, with x̂ flat: shape (n, D), D the number of input features."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


@models.register("autoencoder", reconstructs=True)
def autoencoder(
    input_shape: tuple[int, ...],
    n_outputs: int,
    hidden: list[int] = [64],  # noqa: B006  (read-only default shown in `trainlab list`)
    code: int = 10,
    decoder: list[int] | None = None,
    activation: Activation = "relu",
) -> nn.Module:
    """Autoencoder x → u → x̂ trained on the reconstruction error J_ae = (1/D)‖x − x̂‖² (MSE), whatever the labels.

    Encoder: Flatten → [Linear → activation] per entry of ``hidden`` → Linear to ``code`` units (u,
    linear, as PCA's projection). Decoder: [Linear → activation] per entry of ``decoder`` → Linear to
    the D input features; ``decoder: null`` mirrors the encoder (``hidden`` reversed). With this model
    a run's targets are its inputs (the data's labels are ignored): ``trainlab run`` reports the
    reconstruction error as ``loss``/``test_loss`` (MSE) and ``mae``, in the units of the data before
    ``data.preprocess`` (the network sees preprocessed inputs and reconstructs the raw ones).
    """
    width = math.prod(input_shape)
    if code < 1 or any(h < 1 for h in hidden):
        raise ValueError(f"code and hidden widths must be ≥ 1, got code {code}, hidden {list(hidden)}")
    back = list(reversed(hidden)) if decoder is None else list(decoder)
    encoder = nn.Sequential(nn.Flatten(), *_stack([width, *hidden, code], activation))
    return Autoencoder(encoder, nn.Sequential(*_stack([code, *back, n_outputs], activation)))


def reconstruction_targets(data: Any) -> Any:
    """A copy of a :class:`trainlab.data.datasets.Dataset` whose targets are its own inputs, flattened
    (a regression on D outputs): what an autoencoder trains on. Labels are dropped. (Not imported:
    ``nn`` sits beside ``data`` in the layers; ``dataclasses.replace`` copies any dataclass.)"""
    if not dataclasses.is_dataclass(data) or not hasattr(data, "x_test"):
        raise ValueError("an autoencoder needs a data set of arrays in memory (a registered data set or a file), "
                         "not one read through a DataLoader")

    def flat(x):
        return None if x is None else x.reshape(len(x), -1).astype("float32")

    return dataclasses.replace(data, task="regression", y=flat(data.x), y_test=flat(data.x_test), class_names=None)


# ---- options 1 and 2: a classifier on what a trained autoencoder gives ----


class OnPretrained(nn.Module):
    """``classifier(pretrained(x))``: ``pretrained`` is an autoencoder's encoder (option 1, the
    classifier sees u) or the whole autoencoder (option 2, it sees x̂, reshaped to the input's shape)."""

    def __init__(self, pretrained: nn.Module, classifier: nn.Module, shape: tuple[int, ...]):
        super().__init__()
        self.pretrained, self.classifier, self.shape = pretrained, classifier, tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pretrained(x)
        return self.classifier(h.reshape(len(h), *self.shape))


def pretrained_parameters(model: nn.Module) -> set[str]:
    """Names of the parameters of an :class:`OnPretrained` model's pretrained part (frozen unless
    ``model.unfreeze_at`` releases them); empty for any other model."""
    if not isinstance(model, OnPretrained):
        return set()
    return {f"pretrained.{name}" for name, _ in model.pretrained.named_parameters()}


# ---- option 3: joint training ----


class JointAutoencoder(nn.Module):
    """A classifier (an ``nn.Sequential`` ending in a Linear head) with a decoder head on the head's
    input h (the last hidden layer, the code u): logits = head(h), x̂ = decoder(h).

    ``forward`` returns the logits and keeps the batch's per-example reconstruction errors
    e_i = (1/D)‖x_i − x̂_i‖² in ``reconstruction_errors`` for :class:`JointLoss`.
    """

    def __init__(self, classifier: nn.Sequential, decoder: nn.Module):
        super().__init__()
        self.classifier, self.decoder = classifier, decoder
        self.reconstruction_errors: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.classifier[:-1](x)
        target = x.reshape(len(x), -1)
        self.reconstruction_errors = (self.decoder(h) - target).pow(2).mean(dim=1)
        return self.classifier[-1](h)


def joint_decoder(classifier: nn.Sequential, input_shape: tuple[int, ...], activation: Activation,
                  widths: Sequence[int] | None = None) -> nn.Module:
    """The decoder head for :class:`JointAutoencoder`: from the head's input width to the D input
    features through ``widths``; None mirrors the classifier's hidden Linear layers (the code's
    own layer left out), e.g. mlp hidden [64, 32] → decoder 32 → 64 → D."""
    if not isinstance(classifier, nn.Sequential) or not isinstance(classifier[-1], nn.Linear):
        raise ValueError(  # noqa: TRY004  (run.build turns a ValueError into the recipe error)
            "ae_weight needs a model that is a sequence of layers ending in a Linear head (mlp, cnn1d)")
    if widths is None:
        hidden = [m.out_features for m in classifier[:-1].modules() if isinstance(m, nn.Linear)]
        widths = list(reversed(hidden[:-1]))
    return nn.Sequential(*_stack([classifier[-1].in_features, *widths, math.prod(input_shape)], activation))


class JointLoss:
    """J = β·J_clas + (1 − β)·J_ae on a batch, with ``ae_weight`` = 1 − β: J_clas is the classifier's
    loss (cross-entropy) and J_ae the mean reconstruction error that ``model``'s last forward pass
    recorded. ``reduction="none"`` gives β·ℓ_i + (1 − β)·e_i per example (for the hard-example sampler)."""

    def __init__(self, loss_fn, model: JointAutoencoder, ae_weight: float):
        if not 0 <= ae_weight < 1:
            raise ValueError(f"ae_weight (1 − β) must lie in [0, 1), got {ae_weight}")
        self.loss_fn, self.model, self.ae_weight = loss_fn, model, ae_weight

    def __call__(self, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        errors = self.model.reconstruction_errors
        if errors is None or len(errors) != len(out):
            raise RuntimeError("JointLoss: call the model on the batch before the loss")
        beta = 1.0 - self.ae_weight
        if reduction == "none":
            return beta * self.loss_fn(out, y, reduction="none") + self.ae_weight * errors
        return beta * self.loss_fn(out, y) + self.ae_weight * errors.mean()


# ---- the network a recipe describes ----


def make_network(name: str, params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int, *,
                 ae_weight: float = 0.0, ae_decoder: Sequence[int] | None = None,
                 pretrain: tuple[dict[str, Any], Use] | None = None) -> nn.Module:
    """The modules of a recipe's model (weights as the factories draw them): the registered model
    ``name`` with ``params``; with ``ae_weight`` > 0 a :class:`JointAutoencoder`; with ``pretrain`` =
    (autoencoder parameters, use) an :class:`OnPretrained` whose classifier takes codes or
    reconstructions. ValueError for a combination that cannot be built."""
    if pretrain is not None and ae_weight:
        raise ValueError("pretrain (options 1–2) and ae_weight (option 3) are alternatives; use one")
    if pretrain is not None:
        ae_params, use = pretrain
        ae = models.make({"name": "autoencoder", **ae_params}, input_shape=tuple(input_shape),
                         n_outputs=math.prod(input_shape))
        code = [m for m in ae.encoder.modules() if isinstance(m, nn.Linear)][-1].out_features
        part, shape = (ae.encoder, (code,)) if use == "codes" else (ae, tuple(input_shape))
        return OnPretrained(part, models.make({"name": name, **params}, input_shape=shape, n_outputs=n_outputs), shape)
    model = models.make({"name": name, **params}, input_shape=tuple(input_shape), n_outputs=n_outputs)
    if ae_weight:
        return JointAutoencoder(model, joint_decoder(model, input_shape, params.get("activation", "relu"), ae_decoder))
    return model
