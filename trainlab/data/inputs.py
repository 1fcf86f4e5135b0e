"""Inputs for prediction, read in chunks so that memory is bounded by the chunk, not the file.

``.csv`` (header by :func:`trainlab.data.readers.is_header`), ``.npy`` (memory-mapped, pages
released after each chunk), ``.npz`` (an archive member is read whole: zip members cannot be mapped)
and ``.parquet`` (record batches). Tables (CSV with a header, Parquet) give their columns by name:
a run trained on named feature columns takes the same names, in the training order, and ignores the
target column; a CSV without a header must hold exactly the feature columns, in that order.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainlab.data.readers import (
    CsvFile,
    HeaderMode,
    Place,
    arrow_column,
    column_list,
    load_npz,
    npy_chunks,
    npz_array,
    parquet_file,
    require_file,
    select_columns,
    short,
    to_float,
    to_float32,
)
from trainlab.errors import TrainlabError


@dataclass(frozen=True)
class Columns:
    """The table columns a run was trained on: its feature names (None: every column but the
    target) and its target column (None: the run was not trained on a table)."""

    features: list[str] | None = None
    target: str | None = None


@dataclass
class Chunk:
    """Examples ``x`` (float32, (m, …)) with their row numbers (or indices) for messages."""

    x: np.ndarray
    rows: np.ndarray
    place: Place
    columns: list[int] | None = None  # the file's column position of each of x's columns


def _table_columns(place: Place, names: list[str], has_header: bool, columns: Columns) -> list[int]:
    """Positions of the columns to read from a table whose columns are ``names``."""
    if columns.features is not None:
        if has_header or all(f in names for f in columns.features):
            return select_columns(place, names, columns.features, "the run's feature column")
        if len(names) == len(columns.features):
            return list(range(len(names)))  # no header: exactly the feature columns, in the training order
        raise place.error(f"has {len(names)} columns and no header; this run takes {len(columns.features)} "
                          f"feature columns ({column_list(columns.features)}): give those columns in that order, "
                          "or a header row naming them")
    if has_header and columns.target is not None and columns.target in names:
        return [j for j, n in enumerate(names) if n != columns.target]
    return list(range(len(names)))


def _csv_chunks(path: Path, size: int, header: HeaderMode, delimiter: str, columns: Columns) -> Iterator[Chunk]:
    with CsvFile(path, header, delimiter) as f:
        chosen = _table_columns(f.place, f.column_names(), f.names is not None, columns)
        empty = True
        for rows, cells in f.chunks(size):
            empty = False
            x = to_float32(to_float(cells[:, chosen], rows, f.place, chosen), rows, f.place, chosen)
            yield Chunk(x, rows, f.place, chosen)
        if empty:
            raise f.error("has a header but no data rows")


def _parquet_chunks(path: Path, size: int, columns: Columns) -> Iterator[Chunk]:
    table_file = parquet_file(path)
    names = list(table_file.schema_arrow.names)
    place = Place(path, names)
    chosen = _table_columns(place, names, True, columns)
    first = 1
    for batch in table_file.iter_batches(batch_size=size, columns=[names[j] for j in chosen]):
        x = np.stack([arrow_column(batch.column(k), place, j, first) for k, j in enumerate(chosen)], axis=1)
        rows = np.arange(first, first + len(x))
        yield Chunk(to_float32(x, rows, place, chosen), rows, place, chosen)
        first += len(x)
    if first == 1:
        raise place.error("has no rows")


def _npz_chunks(path: Path, size: int, key: str | None) -> Iterator[Chunk]:
    arrays = load_npz(path)
    names = list(arrays)
    name = key or ("x" if "x" in names else names[0] if len(names) == 1 else None)
    if name is None:
        raise TrainlabError(f"{path}: choose the array with --key; it holds {', '.join(names) or 'none'}")
    array = npz_array(path, arrays, name)
    place = Place(path, unit="index")
    for start in range(0, len(array), size):
        rows = np.arange(start, min(start + size, len(array)))
        yield Chunk(to_float32(array[start:start + size], rows, place), rows, place)


def read_chunks(path: str | Path, size: int = 10_000, *, header: HeaderMode = "auto", delimiter: str = ",",
                key: str | None = None, columns: Columns = Columns()) -> Iterator[Chunk]:
    """The examples of a .csv, .npy, .npz or .parquet file, ``size`` at a time (see the module's docstring).

    ``key``: the array of a .npz archive (default ``x``, or its only array). ``columns``: which table
    columns the run takes. Every malformed cell is an error naming its row and column; NaN/inf pass
    (the caller decides, see :func:`trainlab.data.readers.nonfinite_rows`)."""
    path = require_file(path, "DATA")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise TrainlabError(f"chunk size: {short(size)} is not valid; give a whole number of rows ≥ 1 (e.g. 10000)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _csv_chunks(path, size, header, delimiter, columns)
    elif suffix == ".npy":
        place = Place(path, unit="index")
        for rows, x in npy_chunks(path, size):
            yield Chunk(x, rows, place)
    elif suffix == ".npz":
        yield from _npz_chunks(path, size, key)
    elif suffix == ".parquet":
        yield from _parquet_chunks(path, size, columns)
    else:
        raise TrainlabError(f"DATA {path}: suffix '{suffix}' is not supported; give a .csv, .npy, .npz or .parquet file")


def read_inputs(path: str | Path, key: str | None = None, *, header: HeaderMode = "auto", delimiter: str = ",",
                columns: Columns = Columns()) -> np.ndarray:
    """All examples of a file at once (float32), read as :func:`read_chunks` reads them."""
    return np.concatenate([chunk.x for chunk in read_chunks(path, 65536, header=header, delimiter=delimiter,
                                                            key=key, columns=columns)])
