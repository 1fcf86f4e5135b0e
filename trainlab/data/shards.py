"""Each process's shard of every batch, for data-parallel training (``trainlab run --nproc N``).

With W processes, process r trains on examples r, r + W, r + 2W, … of every batch of the one-process
order (the seeded per-epoch permutation of :class:`~trainlab.data.batching.TensorBatches`), so the W
processes together see exactly the batches one process would, and DistributedDataParallel's average
of their gradients is one step on the whole batch: what ``torch.utils.data.DistributedSampler``
does for a DataLoader, done per batch on the tensor path. Written by hand because
DistributedSampler shards the data set once per epoch, not each batch of a given order.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

from trainlab.data.batching import Batch, TensorBatches


class ShardedBatches:
    """Process ``rank`` of ``world``'s share of every batch of ``batches``.

    ``training``: a batch with fewer than ``world`` examples (only an epoch's last can be one) is left
    out, as every process must take part in every step; evaluation keeps every example.

    Example::

        >>> import torch
        >>> from trainlab.data.batching import TensorBatches
        >>> whole = TensorBatches(torch.arange(6.0)[:, None], torch.arange(6), batch_size=4, shuffle=False)
        >>> [y.tolist() for _, y in ShardedBatches(whole, rank=1, world=2).epoch(0)]
        [[1, 3], [5]]
    """

    def __init__(self, batches: TensorBatches, rank: int, world: int, training: bool = True):
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not in 0 … {world - 1}")
        self.batches, self.rank, self.world, self.training = batches, rank, world, training
        self.sampler = None  # a sampler's order is one process's; the run refuses samplers with --nproc
        self.last_index: torch.Tensor | None = None

    @property
    def x(self) -> torch.Tensor:
        return self.batches.x

    @property
    def y(self) -> torch.Tensor:
        return self.batches.y

    @property
    def batch_size(self) -> int:
        return self.batches.batch_size

    @property
    def n_examples(self) -> int:
        """All processes' examples together (what the summed totals are divided by)."""
        return self.batches.n_examples

    def __len__(self) -> int:
        """Steps per epoch, the same in every process."""
        steps, tail = len(self.batches), self.batches.n_examples % self.batches.batch_size
        return steps - 1 if self.training and 0 < tail < self.world else steps

    def epoch(self, epoch: int) -> Iterator[Batch]:
        for x, y in self.batches.epoch(epoch):
            if len(y) <= self.rank or (self.training and len(y) < self.world):
                continue  # an empty shard (evaluation) or a batch too small for every process (training)
            yield x[self.rank :: self.world], y[self.rank :: self.world]

    def whole(self) -> Iterator[Batch]:
        for x, y in self.batches.whole():
            yield x[self.rank :: self.world], y[self.rank :: self.world]

    def in_order(self, batch_size: int) -> ShardedBatches:
        """The same examples in their stored order, sharded for evaluation."""
        return ShardedBatches(TensorBatches(self.x, self.y, batch_size, shuffle=False), self.rank, self.world,
                              training=False)
