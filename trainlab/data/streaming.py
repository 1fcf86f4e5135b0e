"""Data that does not fit in memory: a user's ``torch.utils.data.Dataset``, read through a DataLoader.

The in-memory tensor path (:class:`trainlab.data.datasets.Dataset`) stays the fast default; a data
factory (``data: {name: python, factory: "mymod:load"}``) that returns a torch ``Dataset`` — map-style
(``__getitem__`` + ``__len__``) or iterable — gets this path instead. Examples are ``(x, y)`` pairs.

* Split: a map-style set is split by a seeded permutation of its indices (``Subset``; not stratified,
  since that would read every label); an iterable set is not split: give ``{"train": …, "val": …,
  "test": …}`` from the factory.
* Preprocessing statistics are fitted on a seeded sample of at most ``SAMPLE`` training examples.
* Order: each epoch's order comes from ``epoch_generator(seed, epoch)`` (map-style), so a resumed
  run reads the same batches; an iterable set yields its own order, and a resume restarts its epoch.

:class:`NpyRows` reads rows of large ``.npy`` files with ``os.pread`` instead of a memory map, so the
process keeps only the batches it uses (a memory map's touched pages count as the process's memory).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import IterableDataset, Subset

from trainlab.data.datasets import Task

SAMPLE = 10_000  # training examples read to fit preprocessing and to describe the inputs


@dataclass
class Streamed:
    """A data set read through a DataLoader: ``train`` and optional ``val``/``test`` torch datasets."""

    task: Task
    train: TorchDataset
    val: TorchDataset | None = None
    test: TorchDataset | None = None
    input_shape: tuple[int, ...] = ()
    n_outputs: int = 1
    class_names: list[str] | None = None
    info: dict = field(default_factory=dict)

    @property
    def iterable(self) -> bool:
        return isinstance(self.train, IterableDataset)


def _first(dataset: TorchDataset, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        item = dataset[0] if not isinstance(dataset, IterableDataset) else next(iter(dataset))
    except (IndexError, StopIteration):
        raise ValueError(f"{where}: the dataset is empty") from None
    if not (isinstance(item, (tuple, list)) and len(item) == 2):
        raise ValueError(f"{where}: examples must be (x, y) pairs, got {type(item).__name__}")
    return torch.as_tensor(item[0]), torch.as_tensor(item[1])


def _labels(dataset: TorchDataset) -> np.ndarray:
    """The class labels of a map-style set: its ``targets`` attribute (torchvision's convention), else one pass."""
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        return np.asarray(targets)
    return np.asarray([int(torch.as_tensor(dataset[i][1])) for i in range(len(dataset))])


def streamed(sets: TorchDataset | Mapping[str, TorchDataset], where: str, task: str = "auto") -> Streamed:
    """Describe a user's torch dataset(s): the task (integer targets → classification), input shape,
    number of outputs and class names (``classes`` attribute, else the largest label + 1)."""
    parts = dict(sets) if isinstance(sets, Mapping) else {"train": sets}
    unknown = set(parts) - {"train", "val", "test"}
    if unknown or "train" not in parts:
        raise ValueError(f"{where}: a mapping of datasets needs 'train' (and optionally 'val', 'test'), got {sorted(parts)}")
    train = parts["train"]
    for part, dataset in parts.items():
        if isinstance(dataset, IterableDataset) and not hasattr(dataset, "__len__"):
            raise ValueError(f"{where}: the iterable '{part}' dataset needs __len__ (its number of examples), "
                             "which sets the steps per epoch and the means of the metrics")
    x, y = _first(train, where)
    if task == "auto":
        task = "regression" if y.is_floating_point() else "classification"
    if task == "classification":
        names = getattr(train, "classes", None)
        if names is None:
            if isinstance(train, IterableDataset):
                raise ValueError(f"{where}: an iterable dataset for classification needs a `classes` attribute "
                                 "(the list of class names)")
            names = [str(c) for c in range(int(_labels(train).max()) + 1)]
        return Streamed("classification", train, parts.get("val"), parts.get("test"), tuple(x.shape),
                        len(names), [str(n) for n in names], {"streamed": True})
    outputs = 1 if y.dim() == 0 else int(y.shape[-1])
    return Streamed("regression", train, parts.get("val"), parts.get("test"), tuple(x.shape), outputs, None,
                    {"streamed": True})


def split_streamed(data: Streamed, val_fraction: float, test_fraction: float,
                   seed: int) -> tuple[TorchDataset, TorchDataset | None, TorchDataset | None]:
    """Train/val/test of a streamed set: given sets are kept; a map-style train set gives up the missing
    ones by a seeded permutation of its indices (test first, then validation from the rest)."""
    train, val, test = data.train, data.val, data.test
    if data.iterable:
        return train, val, test
    order = np.random.default_rng(seed).permutation(len(train))
    n_test = 0 if test is not None else round(test_fraction * len(order))
    rest = order[n_test:]
    n_val = 0 if val is not None else round(val_fraction * len(rest))
    if n_test:
        test = Subset(train, np.sort(order[:n_test]).tolist())
    if n_val:
        val = Subset(train, np.sort(rest[:n_val]).tolist())
    return (Subset(train, np.sort(rest[n_val:]).tolist()) if n_test or n_val else train), val, test


def sample(dataset: TorchDataset, seed: int, n: int = SAMPLE) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``n`` examples (a seeded random subset of a map-style set; the first ``n`` of an iterable)."""
    if isinstance(dataset, IterableDataset):
        items = []
        for item in dataset:
            items.append(item)
            if len(items) >= n:
                break
    else:
        index = np.sort(np.random.default_rng(seed).permutation(len(dataset))[:n])
        items = [dataset[int(i)] for i in index]
    return (torch.stack([torch.as_tensor(x) for x, _ in items]),
            torch.stack([torch.as_tensor(y) for _, y in items]))


class NpyRows(TorchDataset):
    """Rows of a ``.npy`` inputs file (and an optional targets file) read on demand with ``os.pread``.

    Example ``i`` is ``(x[i], y[i])`` as tensors; memory use is one row per read, whatever the file's
    size. Class targets (integer dtype) become int64, others float32; inputs float32.
    """

    def __init__(self, x_path: str | os.PathLike, y_path: str | os.PathLike | None = None,
                 y: np.ndarray | None = None):
        self.x_path = os.fspath(x_path)
        self.x_shape, self.x_dtype, self.x_offset = _npy_header(self.x_path)
        if y_path is not None:
            y = np.load(y_path, mmap_mode="r")
        if y is None or len(y) != self.x_shape[0]:
            raise ValueError(f"{self.x_path}: {self.x_shape[0]} rows of inputs need as many targets")
        self.targets = np.ascontiguousarray(y)  # targets are small: kept in memory
        self.row_bytes = int(np.prod(self.x_shape[1:], dtype=np.int64)) * self.x_dtype.itemsize
        self._fd: int | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self.x_shape[0]

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # DataLoader workers open their own descriptor
            self._fd, self._pid = os.open(self.x_path, os.O_RDONLY), os.getpid()
        return self._fd

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        raw = os.pread(self._file(), self.row_bytes, self.x_offset + int(i) * self.row_bytes)
        x = np.frombuffer(raw, dtype=self.x_dtype).reshape(self.x_shape[1:]).astype(np.float32)
        target = self.targets[int(i)]
        y = torch.as_tensor(target, dtype=torch.int64 if self.targets.dtype.kind in "iub" else torch.float32)
        return torch.from_numpy(x), y

    def __getstate__(self) -> dict[str, Any]:  # a descriptor does not travel to worker processes
        return {**self.__dict__, "_fd": None, "_pid": -1}


def _npy_header(path: str) -> tuple[tuple[int, ...], np.dtype, int]:
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        offset = f.tell()
    if fortran or dtype.hasobject or len(shape) < 2:
        raise ValueError(f"{path}: expected a C-ordered numeric array of shape (n, features…), got {shape} {dtype}")
    return tuple(shape), dtype, offset
