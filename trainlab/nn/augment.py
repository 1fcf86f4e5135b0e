"""Data augmentation on the device, as a model layer: random flips, shifts and rotations per example.

:class:`Augment` transforms a whole batch at once (no per-example Python loop) in training mode and
is the identity in evaluation mode, so predictions and validation see the data unchanged. Written
with torch only (torchvision's transforms work on one image at a time, or are not installed). The
random draws come from torch's global generator of the batch's device, which the recipe's ``seed``
fixes. The transforms themselves are pure functions of the batch and the drawn values:
:func:`flip`, :func:`translate` and :func:`rotate`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated

import pydantic
import torch
import torch.nn.functional as F
from torch import nn

ACCEPTED = {1: ("shift",), 2: ("flip", "shift", "rotate")}  # the augmentations per number of spatial axes


def flip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x`` (batch, channels, height, width) with the examples where ``mask`` (batch,) is True mirrored
    left-right."""
    return torch.where(mask.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)


def translate(x: torch.Tensor, offsets: torch.Tensor, reach: int | None = None) -> torch.Tensor:
    """``x`` (batch, channels, *spatial) moved by whole pixels, the uncovered border filled with zeros.

    ``offsets`` (batch, len(spatial)) are integers: example n moves by ``offsets[n, i]`` pixels
    along spatial axis i (positive: towards higher indices), i.e. y[..., j] = x[..., j - offset].
    ``reach`` ≥ max |offset| is the padding; by default it is read from ``offsets`` (a device sync).
    """
    batch, spatial = x.shape[0], offsets.shape[1]
    if reach is None:
        reach = int(offsets.abs().max().item()) if offsets.numel() else 0
    if reach == 0:
        return x
    for axis in range(spatial):
        dim = x.dim() - spatial + axis
        length = x.shape[dim]
        padded = F.pad(x, [0, 0] * (x.dim() - 1 - dim) + [reach, reach])  # `reach` zeros on both sides of `dim`
        shape = [1] * x.dim()
        shape[dim] = length
        # y[j] = padded[j + reach - offset] = x[j - offset]
        start = (reach - offsets[:, axis]).view(batch, *[1] * (x.dim() - 1))
        index = start + torch.arange(length, device=x.device).view(shape)
        x = padded.gather(dim, index.expand_as(x))
    return x


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """``x`` (batch, channels, height, width) rotated about its centre by ``degrees`` (batch,), bilinear,
    zeros outside.

    Positive angles turn the image counter-clockwise as displayed (row 0 at the top): 90° equals
    ``torch.rot90(x, 1, dims=(-2, -1))``. The angle is a rotation in pixel units, so non-square
    images are rotated, not sheared.
    """
    height, width = x.shape[-2:]
    radians = degrees.to(device=x.device, dtype=torch.float32) * (math.pi / 180)
    cos, sin = torch.cos(radians), torch.sin(radians)
    zero = torch.zeros_like(cos)
    # affine_grid maps output to input positions in coordinates normalised to [-1, 1] per axis; the
    # aspect factors turn that into a rotation in pixels.
    theta = torch.stack([torch.stack([cos, -sin * height / width, zero], -1),
                         torch.stack([sin * width / height, cos, zero], -1)], 1)  # (batch, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class Augment(nn.Module):
    """Random flips, shifts and rotations of a batch, drawn per example, in training mode only.

    Each example is (independently) mirrored left-right with probability ``flip``, moved by whole
    pixels drawn uniformly from {-shift, …, shift} along each spatial axis (zeros fill the border,
    as pad-and-random-crop does), and rotated by an angle drawn uniformly from [-rotate, rotate]
    degrees, in that order. Inputs are (batch, channels, *spatial); ``spatial_dims`` is 1 for
    signals (only ``shift`` applies) or 2 for images.

    Args:
        flip: probability of a left-right flip, in [0, 1].
        shift: largest shift in pixels, a whole number ≥ 0.
        rotate: largest rotation in degrees, ≥ 0.
        spatial_dims: 1 (signals) or 2 (images).

    Example::

        >>> _ = torch.manual_seed(0)
        >>> augment = Augment(flip=1.0)
        >>> augment(torch.arange(3.0).view(1, 1, 1, 3)).flatten().tolist()
        [2.0, 1.0, 0.0]
        >>> augment.eval()(torch.arange(3.0).view(1, 1, 1, 3)).flatten().tolist()
        [0.0, 1.0, 2.0]
    """

    def __init__(self, flip: float = 0.0, shift: int = 0, rotate: float = 0.0, spatial_dims: int = 2):
        super().__init__()
        given = {"flip": flip, "shift": shift, "rotate": rotate}
        check_augment({k: v for k, v in given.items() if v or k in ACCEPTED.get(spatial_dims, ())}, spatial_dims)
        self.flip, self.shift, self.rotate, self.spatial_dims = float(flip), int(shift), float(rotate), spatial_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        batch = x.shape[0]
        if self.flip > 0:
            x = flip(x, torch.rand(batch, device=x.device) < self.flip)
        if self.shift > 0:
            offsets = torch.randint(-self.shift, self.shift + 1, (batch, self.spatial_dims), device=x.device)
            x = translate(x, offsets, reach=self.shift)
        if self.rotate > 0:
            x = rotate(x, (2 * torch.rand(batch, device=x.device) - 1) * self.rotate)
        return x

    def extra_repr(self) -> str:
        return f"flip={self.flip}, shift={self.shift}, rotate={self.rotate}, spatial_dims={self.spatial_dims}"


def check_augment(spec: Mapping[str, float], spatial_dims: int) -> dict[str, float]:
    """``spec`` checked: known keys only (see :data:`ACCEPTED`), flip in [0, 1], shift a whole number ≥ 0,
    rotate ≥ 0. Raises ValueError naming the bad key and the accepted ones."""
    if spatial_dims not in ACCEPTED:
        raise ValueError(f"augmentation works on 1 or 2 spatial axes, got {spatial_dims}")
    accepted = ACCEPTED[spatial_dims]
    for key in spec:
        if key not in accepted:
            raise ValueError(f"unknown augmentation '{key}'; accepted: {', '.join(accepted)}")
    flip_p, shift, degrees = spec.get("flip", 0.0), spec.get("shift", 0), spec.get("rotate", 0.0)
    if not 0 <= flip_p <= 1:
        raise ValueError(f"augmentation flip is a probability in [0, 1], got {flip_p}")
    if not (shift >= 0 and float(shift).is_integer()):
        raise ValueError(f"augmentation shift is a whole number of pixels >= 0, got {shift}")
    if not degrees >= 0:
        raise ValueError(f"augmentation rotate is a largest angle in degrees >= 0, got {degrees}")
    return dict(spec)


def make_augment(spec: Mapping[str, float] | None, spatial_dims: int) -> list[nn.Module]:
    """``[Augment(**spec)]`` for a model's ``augment`` parameter, or ``[]`` when it asks for nothing."""
    spec = check_augment(spec or {}, spatial_dims)
    if not any(spec.values()):
        return []
    return [Augment(**spec, spatial_dims=spatial_dims)]


# The recipe parameter types: pydantic runs the check when the recipe loads, so a typo fails before training.
ImageAugmentSpec = Annotated[dict[str, float], pydantic.AfterValidator(lambda spec: check_augment(spec, 2))]
SignalAugmentSpec = Annotated[dict[str, float], pydantic.AfterValidator(lambda spec: check_augment(spec, 1))]
