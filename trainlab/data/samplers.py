"""Samplers by name: which examples make up each mini-batch of an epoch.

A sampler turns an epoch number into a sequence of index tensors, one per batch, drawn with the
epoch's own generator (so a resumed run replays the same batches). torch's ``WeightedRandomSampler``
draws examples one at a time through a DataLoader; these work on whole index tensors instead, to
stay on the Trainer's fast tensor path — hence written here.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

from trainlab.registry import samplers


class Sampler:
    """Base: a uniform random permutation per epoch, cut into batches."""

    wants_losses = False  # True: the Trainer reports each batch's per-example losses via record()

    def __init__(self, y: torch.Tensor, batch_size: int):
        self.n, self.batch_size = len(y), batch_size

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def batches(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        order = torch.randperm(self.n, generator=generator)
        yield from order.split(self.batch_size)

    def replay(self) -> None:
        """Make the next :meth:`batches` draw what the last epoch's did (a run resumed inside an
        epoch); a no-op for samplers whose draw depends only on the generator."""

    def record(self, index: torch.Tensor, losses: torch.Tensor) -> None:
        """The losses of the examples ``index`` of the last batch (only if ``wants_losses``)."""

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None: ...


@samplers.register("shuffle")
def shuffle(y: torch.Tensor, batch_size: int) -> Sampler:
    """Uniform shuffle: a new random permutation every epoch, cut into batches of B."""
    return Sampler(y, batch_size)


class ClassBalanced(Sampler):
    """Every batch holds ⌊B/K⌋ examples of each of the K classes."""

    def __init__(self, y: torch.Tensor, batch_size: int):
        super().__init__(y, batch_size)
        labels = y.cpu()
        self.by_class = [torch.nonzero(labels == c).flatten() for c in labels.unique()]
        self.per_class = max(1, batch_size // len(self.by_class))

    def batches(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        n_batches = len(self)
        needed = n_batches * self.per_class
        columns = []
        for members in self.by_class:  # cycle through fresh permutations of each class
            rounds = -(-needed // len(members))
            perms = [members[torch.randperm(len(members), generator=generator)] for _ in range(rounds)]
            columns.append(torch.cat(perms)[:needed].view(n_batches, self.per_class))
        yield from torch.cat(columns, dim=1)


@samplers.register("class_balanced")
def class_balanced(y: torch.Tensor, batch_size: int) -> Sampler:
    """Class-balanced batches: each batch takes ⌊B/K⌋ examples from every one of the K classes,
    cycling through each class's examples (minority classes repeat within an epoch).

    An epoch has ⌈n/B⌉ batches of K·⌊B/K⌋ examples. For classification data only.
    """
    if y.dtype.is_floating_point:
        raise ValueError("data.sampler 'class_balanced' needs class labels; this data set is a regression task")
    return ClassBalanced(y, batch_size)


class HardExamples(Sampler):
    """p_i = (1 − floor)·ℓ_i/Σℓ + floor/n, redrawn each epoch from the last losses seen."""

    wants_losses = True

    def __init__(self, y: torch.Tensor, batch_size: int, floor: float):
        super().__init__(y, batch_size)
        self.floor = floor
        self.losses = torch.ones(self.n, device=y.device)  # unseen examples count as average
        self.drawn_from = self.losses.clone()  # the losses this epoch's draw used
        self._replay = False

    def probabilities(self, losses: torch.Tensor | None = None) -> torch.Tensor:
        losses = (self.losses if losses is None else losses).detach().float().cpu().clamp_min(0)
        total = losses.sum()
        p = losses / total if total > 0 else torch.full_like(losses, 1 / self.n)
        return (1 - self.floor) * p + self.floor / self.n

    def batches(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        if not self._replay:
            self.drawn_from.copy_(self.losses)
        self._replay = False
        order = torch.multinomial(self.probabilities(self.drawn_from), self.n, replacement=True, generator=generator)
        yield from order.split(self.batch_size)

    def replay(self) -> None:
        self._replay = True

    def record(self, index: torch.Tensor, losses: torch.Tensor) -> None:
        self.losses[index] = losses.to(self.losses.dtype)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"losses": self.losses, "drawn_from": self.drawn_from}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.losses.copy_(state["losses"])
        if "drawn_from" in state:
            self.drawn_from.copy_(state["drawn_from"])


@samplers.register("hard_examples")
def hard_examples(y: torch.Tensor, batch_size: int, floor: float = 0.2) -> Sampler:
    """Hard-example sampling (LeCun, Efficient BackProp): p_i = (1 − f)·ℓ_i / Σ_j ℓ_j + f/n.

    Each epoch draws n examples with replacement, example i with a probability that grows with
    its loss ℓ_i when last seen (1 before it is seen); the floor f ∈ (0, 1] guarantees every
    example at least f/n, so none starves.
    """
    if not 0 < floor <= 1:
        raise ValueError(f"data.sampler.floor must lie in (0, 1], got {floor}")
    return HardExamples(y, batch_size, floor)
