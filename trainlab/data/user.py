"""Data from the user's own code: ``data: {name: python, factory: "mypkg.data:load", …its parameters}``.

The factory is imported by path (the recipe's folder and ``paths:`` are on ``sys.path``), receives the
parameters the recipe gives it and, if it declares it, ``seed``; it returns one of

* a :class:`trainlab.data.datasets.Dataset`;
* arrays: ``(x, y)`` or ``(x, y, x_test, y_test)``, or a mapping with keys ``x``, ``y`` (optionally
  ``x_test``, ``y_test``, ``class_names``);
* a ``torch.utils.data.Dataset`` of ``(x, y)`` pairs (map-style or iterable), or a mapping
  ``{"train": …, "val": …, "test": …}`` of them: read through a DataLoader
  (:mod:`trainlab.data.streaming`), for data that does not fit in memory.

Arrays follow the rules of files (:mod:`trainlab.data.files`): text or boolean targets, and whole numbers
with at most 50 distinct values, are classes; other numbers are regression values; ``task:`` overrides.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from torch.utils.data import Dataset as TorchDataset

from trainlab.data.datasets import Dataset
from trainlab.data.files import arrays_dataset
from trainlab.data.streaming import Streamed, streamed
from trainlab.registry import datasets


def from_python(result: Any, where: str, task: str = "auto") -> Dataset | Streamed:
    """Turn what a data factory returned into a :class:`Dataset` or a :class:`Streamed` set."""
    if isinstance(result, Dataset):
        return result
    if isinstance(result, TorchDataset) or (
            isinstance(result, Mapping) and result and all(isinstance(v, TorchDataset) for v in result.values())):
        return streamed(result, where, task)
    if isinstance(result, Mapping) and "x" in result and "y" in result:
        extra = set(result) - {"x", "y", "x_test", "y_test", "class_names"}
        if extra:
            raise ValueError(f"{where}: unknown keys {sorted(extra)}; accepted: x, y, x_test, y_test, class_names")
        return arrays_dataset(task=task, where=where, **result)
    if isinstance(result, (tuple, list)) and len(result) in (2, 4):
        return arrays_dataset(*result, task=task, where=where)
    raise ValueError(f"{where}: returned {type(result).__name__}; return (x, y), (x, y, x_test, y_test), "
                     "a dict with x and y, a trainlab Dataset or a torch Dataset")


@datasets.register("python", import_path="factory")
def python(seed: int, factory: str, task: Literal["auto", "classification", "regression"] = "auto",
           **params: Any) -> Dataset | Streamed:
    """Your own data factory by import path: ``factory: "mypkg.data:load"`` plus its own parameters;
    it returns arrays, a trainlab Dataset or a torch Dataset (see :mod:`trainlab.data.user`)."""
    _, (entry, _) = datasets.resolve("python", {"factory": factory})
    return from_python(entry.build({"seed": seed}, params), f"data.factory '{factory}'", task)
