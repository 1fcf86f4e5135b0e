"""Batches for the Trainer.

``TensorBatches`` is the fast path: the whole split lives as tensors on the training device and
each epoch is batched by indexing a permutation, with no DataLoader, no collate and no per-batch
host copies. ``LoaderBatches`` wraps a ``torch.utils.data.DataLoader`` for data that does not
fit in memory. Both draw epoch ``e``'s order from a generator seeded with ``(seed, e)``, so a
resumed run replays exactly the order an uninterrupted run would have used. A
:class:`~trainlab.data.samplers.Sampler` (class-balanced, hard examples) replaces the uniform
permutation when given; ``whole()`` is the full training set as one batch (full-batch optimizers).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from trainlab.data.samplers import Sampler

Batch = tuple[torch.Tensor, torch.Tensor]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator that orders epoch ``epoch`` (0-based) of a run seeded ``seed``."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class TensorBatches:
    """Mini-batches of in-memory tensors, drawn by indexing a per-epoch permutation."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = True, seed: int = 0,
                 sampler: Sampler | None = None):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
        self.x, self.y = x, y
        self.batch_size = min(batch_size, len(x))
        self.shuffle, self.seed, self.sampler = shuffle, seed, sampler
        self.last_index: torch.Tensor | None = None  # the examples of the last batch, when a sampler is used

    def __len__(self) -> int:
        """Steps per epoch (the last batch may be smaller)."""
        return len(self.sampler) if self.sampler is not None else -(-len(self.x) // self.batch_size)

    @property
    def n_examples(self) -> int:
        return len(self.x)

    def epoch(self, epoch: int) -> Iterator[Batch]:
        n, size = len(self.x), self.batch_size
        if self.sampler is not None:
            for index in self.sampler.batches(epoch_generator(self.seed, epoch)):
                self.last_index = index.to(self.x.device)
                yield self.x[self.last_index], self.y[self.last_index]
            return
        if not self.shuffle:
            for start in range(0, n, size):
                yield self.x[start : start + size], self.y[start : start + size]
            return
        order = torch.randperm(n, generator=epoch_generator(self.seed, epoch)).to(self.x.device)
        for start in range(0, n, size):
            index = order[start : start + size]
            yield self.x[index], self.y[index]

    def whole(self) -> Iterator[Batch]:
        """The whole set as one batch."""
        self.last_index = torch.arange(len(self.x), device=self.x.device)
        yield self.x, self.y


class LoaderBatches:
    """Mini-batches from a map-style ``Dataset`` through a DataLoader, moved to ``device``."""

    def __init__(self, dataset: Dataset, batch_size: int, shuffle: bool = True, seed: int = 0,
                 device: torch.device | str = "cpu", num_workers: int = 0, sampler: Sampler | None = None,
                 pin_memory: bool = False, transform: Callable[[torch.Tensor, torch.Tensor], Batch] | None = None):
        self.dataset, self.batch_size, self.shuffle, self.seed = dataset, batch_size, shuffle, seed
        self.device, self.num_workers, self.sampler = torch.device(device), num_workers, sampler
        self.pin_memory = pin_memory or self.device.type == "cuda"
        self.transform = transform  # applied to each batch on the device (preprocessing of streamed data)
        self.last_index: torch.Tensor | None = None

    def __len__(self) -> int:
        """Steps per epoch; an iterable dataset without a length has none (TypeError)."""
        return len(self.sampler) if self.sampler is not None else -(-len(self.dataset) // self.batch_size)

    @property
    def n_examples(self) -> int | None:
        try:
            return len(self.dataset)
        except TypeError:  # an iterable dataset without __len__
            return None

    def epoch(self, epoch: int) -> Iterator[Batch]:
        generator = epoch_generator(self.seed, epoch)
        if self.sampler is not None:
            index_batches = list(self.sampler.batches(generator))
            # generator: a DataLoader draws its workers' base seed from it, else from torch's global RNG,
            # which would shift dropout's numbers when a run resumes inside an epoch
            yield from self._load(DataLoader(self.dataset, batch_sampler=[b.tolist() for b in index_batches],
                                             generator=generator, num_workers=self.num_workers,
                                             pin_memory=self.pin_memory),
                                  index_batches)
            return
        shuffle = self.shuffle and not isinstance(self.dataset, IterableDataset)  # an iterable set keeps its order
        yield from self._load(DataLoader(self.dataset, batch_size=self.batch_size, shuffle=shuffle,
                                         generator=generator, num_workers=self.num_workers,
                                         pin_memory=self.pin_memory, persistent_workers=False))

    def whole(self) -> Iterator[Batch]:
        """The whole set as one batch (it must fit in memory)."""
        index = torch.arange(len(self.dataset))
        yield from self._load(DataLoader(self.dataset, batch_size=len(self.dataset), generator=torch.Generator()),
                              [index])

    def _load(self, loader: DataLoader, index_batches: list[torch.Tensor] | None = None) -> Iterator[Batch]:
        for i, (x, y) in enumerate(loader):
            if index_batches is not None:
                self.last_index = index_batches[i].to(self.device)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            yield self.transform(x, y) if self.transform is not None else (x, y)
