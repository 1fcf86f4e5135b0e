"""Reading a user's data files: CSV text, .npy, .npz and Parquet, with errors that name the place.

One layer for training (:mod:`trainlab.data.files`) and ``trainlab predict``. The libraries do the
parsing: :mod:`csv` splits lines into cells (quotes, delimiters), numpy converts text to numbers and
reads .npy/.npz headers (never unpickling), pyarrow reads Parquet. Written here, because none of them
does it: the header rule (:func:`is_header`), row/column locations in every error, reading a
memory-mapped .npy in chunks whose pages are released after use, and the checks for NaN/inf.

Row numbers are those a text editor shows: a CSV's line numbers (its header is row 1), a Parquet
file's records counted from 1. Arrays (.npy/.npz) name an example by its index from 0, ``x[4]``.
Columns are counted from 1 and named when the file has a header.
"""
from __future__ import annotations

import csv
import mmap
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from trainlab.errors import TrainlabError

HeaderMode = Literal["auto", True, False]
FORMATS = (".csv", ".npy", ".npz", ".parquet")
SHOWN = 3  # NaN/inf cells named in one error


def short(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters so that no message grows with the data."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip(text: str, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters (a library's message quoted inside ours)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_number(cell: str) -> bool:
    """Whether a text cell is a number as Python's ``float`` reads it (``nan`` and ``inf`` included)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def is_header(first_row: Sequence[str], header: HeaderMode = "auto") -> bool:
    """The header rule, the same for training and predict.

    ``header`` True or False decides. With ``"auto"`` the first row is a header exactly when every
    cell is non-empty and not a number (``x1,x2,label``); a row with a number or an empty cell is
    data, so it is never dropped: if it is malformed, reading it fails with its row and column.
    """
    if header is not None and not isinstance(header, str):
        return bool(header)
    return len(first_row) > 0 and all(c.strip() and not is_number(c) for c in first_row)


@dataclass(frozen=True)
class Place:
    """Names rows and columns of one file in messages."""

    path: Path
    names: list[str] | None = None  # column names from a header
    unit: Literal["row", "index"] = "row"

    def column(self, j: int) -> str:
        return f"column {j + 1} '{clip(self.names[j], 40)}'" if self.names else f"column {j + 1}"

    def cell(self, row: int, j: int) -> str:
        if self.unit == "index":
            return f"example x[{row}], feature {j}"
        return f"row {row}, {self.column(j)}"

    def error(self, message: str) -> TrainlabError:
        return TrainlabError(f"{self.path}: {message}")


def column_list(names: Sequence[str], limit: int = 30) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def select_columns(place: Place, names: Sequence[str], wanted: Sequence[str], what: str) -> list[int]:
    """Positions of the ``wanted`` column names; an unknown name is an error listing the columns."""
    missing = [w for w in wanted if w not in names]
    if missing:
        verb = "is not a column" if len(missing) == 1 else "are not columns"
        raise place.error(f"{what} {', '.join(map(short, missing))} {verb} of this file; "
                          f"its columns are {column_list(list(names))}")
    return [list(names).index(w) for w in wanted]


def require_file(path: str | Path, role: str = "file") -> Path:
    path = Path(path)
    if path.is_dir():
        raise TrainlabError(f"{role} {path}: is a directory; give a data file ({', '.join(FORMATS)})")
    if not path.is_file():
        raise TrainlabError(f"{role} {path}: no such file")
    return path


# ---- text to numbers ----


def to_float(cells: np.ndarray, rows: np.ndarray, place: Place, columns: Sequence[int]) -> np.ndarray:
    """Text cells (m, c) as float64; the first cell that is not a number is an error naming it.

    ``rows`` are the cells' row numbers, ``columns`` their column positions in the file."""
    try:
        return cells.astype(np.float64)
    except ValueError:
        pass
    for i, row in enumerate(cells):
        for j, cell in enumerate(row):
            if not is_number(cell):
                what = "the cell is empty" if not cell.strip() else f"{short(str(cell))} is not a number"
                hint = ("; if row 1 is a header, say so (recipe: header: true; predict: --header)"
                        if place.unit == "row" and int(rows[i]) == 1 and place.names is None and cell.strip() else "")
                raise place.error(f"{place.cell(int(rows[i]), columns[j])}: {what}; features must be numbers{hint}")
    return np.asarray([[float(c) for c in row] for row in cells.tolist()])  # numbers numpy did not parse


def to_float32(x: np.ndarray, rows: np.ndarray, place: Place, columns: Sequence[int] | None = None) -> np.ndarray:
    """``x`` (n, …) as float32, the dtype of the model's inputs; a finite number beyond float32's range
    (±3.4e38), which would silently become ±inf, is an error naming its cell."""
    with np.errstate(over="ignore"):
        narrow = np.asarray(x, dtype=np.float32)
    if x.dtype.kind == "f" and x.dtype.itemsize > 4:
        flat, wide = narrow.reshape(len(narrow), -1), np.asarray(x).reshape(len(x), -1)
        over = np.argwhere(np.isinf(flat) & np.isfinite(wide))
        if len(over):
            i, j = over[0]
            col = columns[j] if columns is not None else j
            raise place.error(f"{place.cell(int(rows[i]), int(col))}: {wide[i, j]:g} is beyond the range of float32, "
                              "the inputs' type (at most ±3.4e38); rescale this column")
    return narrow


def nonfinite_rows(x: np.ndarray) -> np.ndarray:
    """Indices of the examples in ``x`` (n, …) holding NaN or ±inf."""
    return np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))


def describe_nonfinite(x: np.ndarray, rows: np.ndarray, place: Place, columns: Sequence[int] | None = None) -> str:
    """The first few NaN/inf cells, e.g. ``row 4, column 2 'x1' = nan; row 9, column 1 'x0' = inf``."""
    flat = x.reshape(len(x), -1)
    bad = np.argwhere(~np.isfinite(flat))
    parts = []
    for i, j in bad[:SHOWN]:
        col = columns[j] if columns is not None else j
        parts.append(f"{place.cell(int(rows[i]), int(col))} = {flat[i, j]}")
    more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
    return "; ".join(parts) + more


# ---- CSV ----


def _decoded_lines(path: Path, handle) -> Iterator[str]:
    """The file's lines as text; bytes that are not UTF-8 are an error naming the row and column."""
    for number, raw in enumerate(handle, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            column = len(raw[: e.start].decode("utf-8", errors="replace")) + 1
            raise TrainlabError(f"{path}: row {number}, character {column}: byte {raw[e.start]:#04x} is not "
                                "UTF-8 text; save the file as UTF-8") from None
        yield line[1:] if number == 1 and line.startswith("\ufeff") else line  # a spreadsheet's BOM


class CsvFile:
    """A CSV file read row by row: its header decided by :func:`is_header`, rows checked to have as
    many cells as the first. Use as a context manager (it holds the open file)."""

    def __init__(self, path: str | Path, header: HeaderMode = "auto", delimiter: str = ","):
        self.path = require_file(path)
        if len(delimiter) != 1:
            raise TrainlabError(f"delimiter: {short(delimiter)} is not one character; give e.g. ',' ';' or '\\t'")
        self._handle = open(self.path, "rb")  # noqa: SIM115  (closed by close()/__exit__)
        self._reader = csv.reader(_decoded_lines(self.path, self._handle), delimiter=delimiter, strict=True)
        try:
            first = self._next()
        except TrainlabError:
            self.close()
            raise
        if first is None:
            self.close()
            raise TrainlabError(f"{self.path}: the file is empty (no rows)")
        self.width = len(first[1])
        self.names: list[str] | None = None
        self._pending: tuple[int, list[str]] | None = first
        if is_header(first[1], header):
            self.names = [c.strip() for c in first[1]]
            self._pending = None
            try:
                self._check_names(first[0])
            except TrainlabError:
                self.close()
                raise
        self.place = Place(self.path, self.names)

    def _next(self) -> tuple[int, list[str]] | None:
        try:
            for row in self._reader:
                if row and any(c.strip() for c in row):  # blank lines are skipped
                    return self._reader.line_num, row
        except csv.Error as e:
            raise TrainlabError(f"{self.path}: row {self._reader.line_num}: {e}") from None
        return None

    def _check_names(self, line: int) -> None:
        empty = [j + 1 for j, n in enumerate(self.names) if not n]
        if empty:
            raise self.error(f"row {line} is the header (header: true) but column {empty[0]} has no name")
        seen: dict[str, int] = {}
        for j, name in enumerate(self.names):
            if name in seen:
                raise self.error(f"row {line}: the column name {short(name)} appears twice (columns "
                                 f"{seen[name] + 1} and {j + 1}); columns are chosen by name, so names must differ")
            seen[name] = j

    def error(self, message: str) -> TrainlabError:
        return TrainlabError(f"{self.path}: {message}")

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(row number, cells) of every data row."""
        while True:
            item, self._pending = self._pending or self._next(), None
            if item is None:
                return
            line, row = item
            if len(row) != self.width:
                first = "the header" if self.names else "the first row"
                more = f"; column {self.width + 1} is {short(row[self.width])}" if len(row) > self.width else ""
                raise self.error(f"row {line} has {len(row)} cells but {first} has {self.width}{more}; "
                                 "every row needs the same number of cells")
            yield line, row

    def chunks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(row numbers (m,), text cells (m, width)) for ``size`` rows at a time."""
        lines: list[int] = []
        cells: list[list[str]] = []
        for line, row in self.rows():
            lines.append(line)
            cells.append(row)
            if len(cells) == size:
                yield np.asarray(lines), np.asarray(cells, dtype=str)
                lines, cells = [], []
        if cells:
            yield np.asarray(lines), np.asarray(cells, dtype=str)

    def column_names(self) -> list[str]:
        """Header names, or ``1``, ``2``, … (the column numbers) for a file without a header."""
        return self.names if self.names is not None else [str(j + 1) for j in range(self.width)]

    def close(self) -> None:
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- .npy / .npz ----


def check_array(array: np.ndarray, where: str, role: str = "inputs") -> np.ndarray:
    """A numeric, non-empty array of examples; text, objects, complex numbers or no examples are errors.

    Targets (``role="targets"``) may also be text: class labels."""
    kinds = "biuf" + ("US" if role == "targets" else "")
    if array.dtype.kind not in kinds:
        accepted = "numbers (int, float or bool)" + (" or text labels" if role == "targets" else "")
        raise TrainlabError(f"{where}: {role} of dtype {array.dtype} cannot be used; give {accepted}")
    if array.ndim == 0 or array.shape[0] == 0 or array.size == 0:
        raise TrainlabError(f"{where}: the array of shape {array.shape} holds no examples")
    return array


def load_npy(path: str | Path, role: str = "inputs", mmap_mode: Literal["r"] | None = None) -> np.ndarray:
    """A .npy array read without unpickling (optionally memory-mapped), checked by :func:`check_array`."""
    path = require_file(path)
    try:
        array = np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise TrainlabError(f"{path}: not a readable .npy array without unpickling ({clip(str(e))})") from None
    if not isinstance(array, np.ndarray):
        raise TrainlabError(f"{path}: holds several arrays (an .npz archive); name it .npz")
    return check_array(array, str(path), role)


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of a .npz archive, read without unpickling."""
    path = require_file(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise TrainlabError(f"{path}: not a readable .npz archive ({clip(str(e))})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise TrainlabError(f"{path}: holds one array (a .npy file), not an .npz archive; name it .npy")
    arrays = {}
    with archive:
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
                raise TrainlabError(f"{path}: array '{name}' cannot be read ({clip(str(e), 80)}); an .npz must "
                                    "hold arrays of numbers, saved without pickling") from None
    return arrays


def npz_array(path: Path, arrays: dict[str, np.ndarray], name: str, role: str = "inputs") -> np.ndarray:
    if name not in arrays:
        raise TrainlabError(f"{path}: has no array '{name}'; it holds {', '.join(arrays) or 'none'}")
    return check_array(arrays[name], f"{path}[{name}]", role)


def npy_chunks(path: Path, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(indices, float32 examples) of a .npy file, ``size`` examples at a time, memory-mapped.

    numpy reads the header (:func:`load_npy` with ``mmap_mode='r'``); the file is then mapped
    here so that each chunk's pages are released (``madvise(MADV_DONTNEED)``) after it is copied:
    memory stays bounded by the chunk, where a plain memory map keeps every page it touched resident.
    """
    header = load_npy(path, mmap_mode="r")
    shape, dtype, offset = header.shape, header.dtype, header.offset
    order = "F" if header.flags.f_contiguous and not header.flags.c_contiguous else "C"
    del header
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = np.ndarray(shape, dtype, buffer=mapped, offset=offset, order=order)
        try:
            for start in range(0, shape[0], size):
                stop = min(start + size, shape[0])
                block = to_float32(np.array(view[start:stop]), np.arange(start, stop), Place(path, unit="index"))
                if order == "C" and hasattr(mapped, "madvise"):
                    first = (offset + start * row_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
                    mapped.madvise(mmap.MADV_DONTNEED, first, offset + stop * row_bytes - first)
                yield np.arange(start, stop), block
        finally:
            del view  # the map cannot close while an array still points into it


# ---- Parquet ----


def pyarrow_parquet():
    """``pyarrow.parquet``, or a one-line error saying how to install it."""
    try:
        import pyarrow.parquet
    except ImportError:
        raise TrainlabError("Parquet files need pyarrow: pip install 'trainlab[parquet]' (or pip install pyarrow)") from None
    return pyarrow.parquet


def parquet_file(path: str | Path):
    """An open ``pyarrow.parquet.ParquetFile``; a file that is not Parquet is an error."""
    path = require_file(path)
    pq = pyarrow_parquet()
    import pyarrow

    try:
        return pq.ParquetFile(path)
    except (pyarrow.ArrowException, OSError) as e:  # ArrowInvalid for a file that is not Parquet
        raise TrainlabError(f"{path}: not a readable Parquet file ({clip(str(e))})") from None


def arrow_column(column, place: Place, j: int, first_row: int, role: str = "features") -> np.ndarray:
    """One Arrow column as numpy: numbers as float64, booleans as 0/1, text (targets only) as str.

    A missing value (null) is an error naming its row; other types (dates, lists, …) are refused."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if column.null_count:
        row = first_row + int(pc.index(pc.is_null(column), True).as_py())
        raise place.error(f"{place.cell(row, j)}: the cell is empty (null); fill or drop such rows")
    kind = column.type
    if role == "targets" and pa.types.is_boolean(kind):
        return column.to_numpy(zero_copy_only=False).astype(bool)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return column.to_numpy(zero_copy_only=False).astype(np.float64)
    if role == "targets" and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=str)
    accepted = "numbers or booleans" + (" or text labels" if role == "targets" else "")
    raise place.error(f"{place.column(j)} has type {kind}; {role} must be {accepted}")
