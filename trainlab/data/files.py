"""Datasets from the user's files: ``csv``, ``npy``, ``npz`` and ``parquet``, with fingerprints.

``data: {name: csv, path: train.csv, target: label}`` trains on a CSV file; the files are read
through :mod:`trainlab.data.readers` (errors name the file, row and column). Each dataset records
``info["files"]``: path, size and SHA-256 of every file it read (:func:`fingerprint`), so a run can
tell when a file changed (:func:`changed_files`), and, for tables, the feature columns it used, so
``trainlab predict`` picks the same columns by name.

Task inference (``task: auto``): text or boolean targets are classes; numeric targets are classes
when every value is a whole number and there are at most :data:`MAX_INFERRED_CLASSES` distinct
values; otherwise they are regression values. ``task: classification`` or ``regression`` overrides.
Class names are the sorted distinct labels (numbers sorted by value), so predictions carry the
user's own labels.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from trainlab.data.datasets import Dataset, _classification, _regression
from trainlab.data.readers import (
    CsvFile,
    HeaderMode,
    Place,
    arrow_column,
    column_list,
    describe_nonfinite,
    load_npy,
    load_npz,
    npz_array,
    parquet_file,
    select_columns,
    short,
    to_float,
    to_float32,
)
from trainlab.errors import TrainlabError
from trainlab.registry import datasets

TaskChoice = Literal["auto", "classification", "regression"]
MAX_INFERRED_CLASSES = 50
_BLOCK = 1 << 20


# ---- fingerprints ----


def fingerprint(path: str | Path) -> dict[str, Any]:
    """``{"path": absolute path, "size": bytes, "sha256": hex digest}`` of one file."""
    path = Path(path).resolve()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return {"path": str(path), "size": path.stat().st_size, "sha256": digest.hexdigest()}


def changed_files(recorded: Sequence[dict[str, Any]]) -> list[str]:
    """One line per recorded file that is missing or whose size or SHA-256 differs; [] if all match."""
    problems = []
    for entry in recorded:
        path = Path(entry["path"])
        if not path.is_file():
            problems.append(f"{path}: missing (recorded {entry['size']} bytes, sha256 {entry['sha256'][:12]}…)")
            continue
        now = fingerprint(path)
        if now["size"] != entry["size"]:
            problems.append(f"{path}: size changed from {entry['size']} to {now['size']} bytes")
        elif now["sha256"] != entry["sha256"]:
            problems.append(f"{path}: contents changed (sha256 {entry['sha256'][:12]}… → {now['sha256'][:12]}…)")
    return problems


# ---- targets ----


class Targets:
    """A target column (or array) with what is needed to name a value in an error."""

    def __init__(self, values: np.ndarray, place: Place, rows: np.ndarray, column: int = 0):
        self.values, self.place, self.rows, self.column = values, place, rows, column

    def at(self, i: int) -> str:
        return self.place.cell(int(self.rows[i]), self.column) if self.place.unit == "row" else f"example {self.rows[i]}"

    def numbers(self) -> np.ndarray | None:
        """The values as float64, or None when some are text."""
        try:
            return self.values.astype(np.float64)
        except ValueError:
            return None

    def check(self) -> None:
        if self.values.dtype.kind in "US":
            empty = np.flatnonzero(np.char.str_len(np.char.strip(self.values.astype(str))) == 0)
            if len(empty):
                raise self.place.error(f"{self.at(empty[0])}: the target is empty; every example needs a target")


def infer_task(targets: Targets, task: TaskChoice) -> str:
    """The rule of this module's docstring; ``task`` other than ``auto`` decides."""
    if task != "auto":
        return task
    values = targets.values
    if values.dtype.kind == "b":
        return "classification"
    numbers = targets.numbers()
    if numbers is None:
        return "classification"
    if values.ndim > 1 and values.reshape(len(values), -1).shape[1] > 1:
        return "regression"
    whole = np.isfinite(numbers).all() and bool((numbers == np.round(numbers)).all())
    return "classification" if whole and len(np.unique(numbers)) <= MAX_INFERRED_CLASSES else "regression"


def _label_names(targets: Targets) -> tuple[np.ndarray, list[str]]:
    """(labels as comparable keys, class names in order) of classification targets."""
    values = targets.values.reshape(len(targets.values), -1)
    if values.shape[1] != 1:
        raise targets.place.error(f"classification needs one label per example, got targets of shape "
                                  f"{targets.values.shape}; use task: regression for several values")
    values = values[:, 0]
    if values.dtype.kind == "b":
        return values.astype(str), ["False", "True"]
    numbers = targets.numbers()
    if numbers is not None:
        if not np.isfinite(numbers).all():
            raise targets.place.error(f"{targets.at(np.flatnonzero(~np.isfinite(numbers))[0])}: the target is NaN or inf")
        keys = np.unique(numbers)
        names = [str(int(v)) if v == round(v) else str(float(v)) for v in keys]  # the shortest exact text
        lookup = dict(zip(keys.tolist(), names))
        return np.asarray([lookup[v] for v in numbers.tolist()]), names
    labels = np.char.strip(values.astype(str))
    return labels, sorted(set(labels.tolist()))


def class_indices(targets: Targets, names: list[str]) -> np.ndarray:
    """Class indices of ``targets`` under ``names`` (the training labels); an unknown label is an error."""
    labels, _ = _label_names(targets)
    index = {n: i for i, n in enumerate(names)}
    unknown = [i for i, label in enumerate(labels.tolist()) if label not in index]
    if unknown:
        raise targets.place.error(f"{targets.at(unknown[0])}: label {short(str(labels[unknown[0]]))} does not occur "
                                  f"in the training file; its classes are {column_list(names)}")
    return np.asarray([index[label] for label in labels.tolist()], dtype=np.int64)


def regression_values(targets: Targets) -> np.ndarray:
    values, numbers = targets.values, targets.numbers()
    if numbers is None:
        bad = next(i for i, v in enumerate(values.reshape(len(values), -1)[:, 0].tolist()) if not _is_float(v))
        raise targets.place.error(f"{targets.at(bad)}: {short(str(values[bad]))} is not a number; regression "
                                  "targets must be numbers (or set task: classification)")
    numbers = numbers.reshape(len(values), -1)
    bad = np.flatnonzero(~np.isfinite(numbers).all(axis=1))
    if len(bad):
        raise targets.place.error(f"{targets.at(bad[0])}: the target is NaN or inf; regression needs finite targets")
    return numbers


def _is_float(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def build_dataset(x: np.ndarray, targets: Targets, task: TaskChoice, test: tuple[np.ndarray, Targets] | None,
                  info: dict[str, Any]) -> Dataset:
    """A :class:`Dataset` from features and targets, the task inferred unless given."""
    targets.check()
    task = infer_task(targets, task)
    if task == "regression":
        data = _regression(x, regression_values(targets), **info)
        if test is not None:
            data.x_test = test[0]
            data.y_test = regression_values(test[1]).astype(np.float32)
            if data.y_test.shape[1] != data.y.shape[1]:
                raise test[1].place.error(f"the test targets have {data.y_test.shape[1]} values per example, the "
                                          f"training targets {data.y.shape[1]}")
        return data
    _, names = _label_names(targets)
    if len(names) < 2:
        raise targets.place.error(f"the target has one value only ({short(names[0])}); classification needs at "
                                  "least two classes")
    y = class_indices(targets, names)
    y_test = None if test is None else class_indices(test[1], names)
    return _classification(x, y, None if test is None else test[0], y_test, names, **info)


def _finite(x: np.ndarray, rows: np.ndarray, place: Place, columns: Sequence[int] | None = None) -> np.ndarray:
    """``x`` unchanged, or an error naming the first NaN/inf cells (training refuses them)."""
    if not np.isfinite(x).all():
        raise place.error(f"NaN or inf in the features: {describe_nonfinite(x, rows, place, columns)}; training "
                          "needs finite numbers: fill or drop these rows")
    return x


def _same_length(x: np.ndarray, y: np.ndarray, x_where: str, y_where: str) -> None:
    if len(x) != len(y):
        raise TrainlabError(f"{x_where} has {len(x)} examples but {y_where} has {len(y)}; they must match row for row")


def _resolved(path: str) -> Path:
    if not path:
        raise TrainlabError("data.path: empty; give the data file")
    return Path(path).expanduser().resolve()


# ---- tables: CSV and Parquet ----


def _choose(place: Place, names: list[str], target: str | int, features: list[str | int] | None) -> tuple[int, list[int]]:
    """Positions of the target column and the feature columns (default: every other column)."""
    label = str(target)
    if label not in names:
        hint = "" if place.names else " (the file has no header, so columns are named by number: 1, 2, …)"
        raise place.error(f"target {short(label)} is not a column{hint}; its columns are {column_list(names)}")
    t = names.index(label)
    if features is None:
        if len(names) == 1:
            raise place.error(f"has only the target column {short(label)}; the inputs need at least one more column")
        return t, [j for j in range(len(names)) if j != t]
    chosen = [str(f) for f in features]
    if not chosen:
        raise place.error("features: the list is empty; name at least one column (or leave features out)")
    if label in chosen:
        raise place.error(f"features: {short(label)} is the target column; leave it out of features")
    return t, select_columns(place, names, chosen, "features:")


def _read_csv(path: Path, target: str | int, features: list[str | int] | None, header: HeaderMode,
              delimiter: str) -> tuple[np.ndarray, Targets, dict[str, Any]]:
    with CsvFile(path, header, delimiter) as f:
        names = f.column_names()
        t, chosen = _choose(f.place, names, target, features)
        xs, labels, lines = [], [], []
        for rows, cells in f.chunks(65536):
            xs.append(to_float32(to_float(cells[:, chosen], rows, f.place, chosen), rows, f.place, chosen))
            labels.append(cells[:, t])
            lines.append(rows)
        if not xs:
            raise f.error("has a header but no data rows")
        x, rows = np.concatenate(xs), np.concatenate(lines)
        _finite(x, rows, f.place, chosen)
        info = {"feature_columns": [names[j] for j in chosen], "target_column": names[t], "header": f.names is not None}
        return x, Targets(np.concatenate(labels), f.place, rows, t), info


@datasets.register("csv")
def csv_file(seed: int, path: str, target: str | int, features: list[str | int] | None = None,
             test_path: str | None = None, task: TaskChoice = "auto", header: HeaderMode = "auto",
             delimiter: str = ",") -> Dataset:
    """A CSV file of yours: one example per row, ``target`` names the label column, ``features`` the
    input columns (default: all others). A first row of names only is the header (``header: auto``).

    ``test_path``: a second file with the same columns as the test split (otherwise the run splits).
    ``task``: auto infers classification for text labels or ≤ 50 distinct whole numbers, else regression.
    """
    path_ = _resolved(path)
    x, targets, info = _read_csv(path_, target, features, header, delimiter)
    files = [path_]
    test = None
    if test_path:
        test_file = _resolved(test_path)
        x_test, test_targets, _ = _read_csv(test_file, info["target_column"], info["feature_columns"], header,
                                            delimiter)
        test, files = (x_test, test_targets), files + [test_file]
    return build_dataset(x, targets, task, test, {**info, "files": [fingerprint(p) for p in files]})


def _read_parquet(path: Path, target: str, features: list[str] | None) -> tuple[np.ndarray, Targets, dict[str, Any]]:
    table_file = parquet_file(path)
    names = list(table_file.schema_arrow.names)
    place = Place(path, names)
    t, chosen = _choose(place, names, target, features)
    if table_file.metadata.num_rows == 0:
        raise place.error("has no rows")
    table = table_file.read(columns=[names[j] for j in [*chosen, t]])
    columns = [arrow_column(table.column(k), place, j, 1) for k, j in enumerate(chosen)]
    rows = np.arange(1, len(columns[0]) + 1)
    x = to_float32(np.stack(columns, axis=1), rows, place, chosen)
    _finite(x, rows, place, chosen)
    labels = arrow_column(table.column(len(chosen)), place, t, 1, role="targets")
    info = {"feature_columns": [names[j] for j in chosen], "target_column": names[t], "header": True}
    return x, Targets(labels, place, rows, t), info


@datasets.register("parquet")
def parquet(seed: int, path: str, target: str, features: list[str] | None = None, test_path: str | None = None,
            task: TaskChoice = "auto") -> Dataset:
    """A Parquet file of yours (needs pyarrow: ``pip install 'trainlab[parquet]'``), columns as for ``csv``:
    ``target`` names the label column, ``features`` the inputs (default: all others)."""
    path_ = _resolved(path)
    x, targets, info = _read_parquet(path_, target, features)
    files, test = [path_], None
    if test_path:
        test_file = _resolved(test_path)
        x_test, test_targets, _ = _read_parquet(test_file, info["target_column"], info["feature_columns"])
        test, files = (x_test, test_targets), files + [test_file]
    return build_dataset(x, targets, task, test, {**info, "files": [fingerprint(p) for p in files]})


# ---- arrays: .npy and .npz ----


def _inputs(array: np.ndarray, where: str) -> np.ndarray:
    x = to_float32(np.asarray(array), np.arange(len(array)), Place(Path(where), unit="index"))
    x = x.reshape(len(x), 1) if x.ndim == 1 else x
    bad = ~np.isfinite(x.reshape(len(x), -1))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        count = int(bad.any(axis=1).sum())
        raise TrainlabError(f"{where}: NaN or inf in the features, first at example x[{i}], feature {j} "
                            f"({count} examples in all); training needs finite numbers")
    return x


def _array_targets(array: np.ndarray, where: str) -> Targets:
    return Targets(np.asarray(array), Place(Path(where), unit="index"), np.arange(len(array)))


@datasets.register("npy")
def npy(seed: int, path: str, target_path: str, test_path: str | None = None, test_target_path: str | None = None,
        task: TaskChoice = "auto") -> Dataset:
    """NumPy arrays of yours: ``path`` holds the inputs (n, …), ``target_path`` the targets (n,) or (n, k)
    (numbers, or text labels); ``test_path`` + ``test_target_path`` an optional test split. Never unpickles."""
    x_file, y_file = _resolved(path), _resolved(target_path)
    x, y = _inputs(load_npy(x_file), str(x_file)), load_npy(y_file, role="targets")
    _same_length(x, y, str(x_file), str(y_file))
    files, test = [x_file, y_file], None
    if bool(test_path) != bool(test_target_path):
        raise TrainlabError("data.test_path and data.test_target_path: give both (the test inputs and their "
                            "targets) or neither")
    if test_path:
        tx_file, ty_file = _resolved(test_path), _resolved(test_target_path)
        x_test, y_test = _inputs(load_npy(tx_file), str(tx_file)), load_npy(ty_file, role="targets")
        _same_length(x_test, y_test, str(tx_file), str(ty_file))
        test, files = (x_test, _array_targets(y_test, str(ty_file))), files + [tx_file, ty_file]
    _check_test_shape(x, test, files)
    return build_dataset(x, _array_targets(y, str(y_file)), task, test, {"files": [fingerprint(p) for p in files]})


@datasets.register("npz")
def npz(seed: int, path: str, inputs: str = "x", targets: str = "y", test_inputs: str = "x_test",
        test_targets: str = "y_test", task: TaskChoice = "auto") -> Dataset:
    """A NumPy .npz archive of yours: arrays ``x`` (inputs) and ``y`` (targets); when it also holds
    ``x_test`` and ``y_test`` they are the test split. ``inputs``, ``targets``, ``test_inputs`` and
    ``test_targets`` name other arrays. Never unpickles."""
    file = _resolved(path)
    arrays = load_npz(file)
    x = _inputs(npz_array(file, arrays, inputs), f"{file}[{inputs}]")
    y = npz_array(file, arrays, targets, role="targets")
    _same_length(x, y, f"{file}[{inputs}]", f"{file}[{targets}]")
    present = [name for name in (test_inputs, test_targets) if name in arrays]
    if len(present) == 1:
        missing = test_targets if present == [test_inputs] else test_inputs
        raise TrainlabError(f"{file}: holds '{present[0]}' but not '{missing}'; a test split needs both")
    test = None
    if present:
        x_test = _inputs(npz_array(file, arrays, test_inputs), f"{file}[{test_inputs}]")
        y_test = npz_array(file, arrays, test_targets, role="targets")
        _same_length(x_test, y_test, f"{file}[{test_inputs}]", f"{file}[{test_targets}]")
        test = (x_test, _array_targets(y_test, f"{file}[{test_targets}]"))
    _check_test_shape(x, test, [file])
    return build_dataset(x, _array_targets(y, f"{file}[{targets}]"), task, test, {"files": [fingerprint(file)]})


def _check_test_shape(x: np.ndarray, test: tuple[np.ndarray, Targets] | None, files: list[Path]) -> None:
    if test is not None and test[0].shape[1:] != x.shape[1:]:
        raise TrainlabError(f"{files[-1]}: test examples have shape {test[0].shape[1:]}, training examples "
                            f"{x.shape[1:]}; they must match")


def arrays_dataset(x: Any, y: Any, x_test: Any = None, y_test: Any = None, task: TaskChoice = "auto",
                   where: str = "arrays", class_names: list[str] | None = None) -> Dataset:
    """A :class:`Dataset` from arrays in memory (numpy, lists, tensors, DataFrames), by the rules of the
    files: the same task inference, class names, finite-value and length checks, named by ``where``."""
    x = _inputs(np.asarray(x), f"{where}: x")
    y = np.asarray(y)
    _same_length(x, y, f"{where}: x", f"{where}: y")
    test = None
    if (x_test is None) != (y_test is None):
        raise TrainlabError(f"{where}: give x_test and y_test together, or neither")
    if x_test is not None:
        x_test, y_test = _inputs(np.asarray(x_test), f"{where}: x_test"), np.asarray(y_test)
        _same_length(x_test, y_test, f"{where}: x_test", f"{where}: y_test")
        test = (x_test, _array_targets(y_test, f"{where}: y_test"))
    data = build_dataset(x, _array_targets(y, f"{where}: y"), task, test, {})
    if class_names is not None and data.task == "classification":
        if len(class_names) != len(data.class_names):
            raise TrainlabError(f"{where}: {len(class_names)} class_names for {len(data.class_names)} classes")
        data.class_names = list(class_names)
    return data
