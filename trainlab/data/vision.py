"""MNIST, Fashion-MNIST and CIFAR-10 as numpy arrays.

With torchvision installed (extra ``trainlab[vision]``) its dataset classes read, and on
request download, the files. Without it, a small reader of our own reads the same on-disk
layout torchvision uses (IDX files for the MNISTs, pickled python batches for CIFAR-10);
the pickles go through a restricted unpickler that only rebuilds numpy arrays.
"""
from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np

from trainlab.errors import TrainlabError, did_you_mean

Backend = Literal["auto", "torchvision", "files"]

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# name -> (torchvision class, folder under root)
_SETS = {"mnist": ("MNIST", "MNIST/raw"), "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw"),
         "cifar10": ("CIFAR10", "cifar-10-batches-py")}
_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801
# The only globals a CIFAR-10 batch may name: numpy's array rebuilders, plus _codecs.encode,
# which Python 3 uses for bytes in protocol-2 pickles (torch's weights_only loader allows it too).
_PICKLE_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                   ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
                   ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


@dataclass(frozen=True)
class VisionData:
    """Train and test splits; images are float32 (N, C, H, W) in [0, 1], labels int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]


def load_vision(name: str, root: str | os.PathLike, download: bool = False,
                backend: Backend = "auto") -> VisionData:
    """Load ``name`` ("mnist", "fashion_mnist" or "cifar10") from ``root``.

    ``backend``: "torchvision" uses torchvision's datasets (and may download); "files" reads
    torchvision's on-disk layout with trainlab's own reader and never downloads; "auto"
    picks torchvision when it imports, else the files.
    """
    if name not in _SETS:
        raise TrainlabError(f"unknown vision data set '{name}'; {did_you_mean(name, _SETS)}"
                            f"known: {', '.join(_SETS)}")
    if backend not in ("auto", "torchvision", "files"):
        raise TrainlabError(f"unknown vision backend '{backend}'; use auto, torchvision or files")
    tv = _torchvision_datasets()
    if backend == "torchvision" and tv is None:
        raise TrainlabError(f"torchvision is not importable; {_install_hint()}")
    if backend == "files" or tv is None:
        read = _read_cifar10 if name == "cifar10" else _read_mnist
        return read(name, Path(root), torchvision_ok=tv is not None, download=download)
    return _via_torchvision(tv, name, Path(root), download)


def _import_torchvision_datasets() -> ModuleType:
    import torchvision.datasets as tvd

    return tvd


def _torchvision_datasets() -> ModuleType | None:
    """``torchvision.datasets``, or None when torchvision is missing or broken."""
    try:
        return _import_torchvision_datasets()
    except (ImportError, RuntimeError):  # a torch/torchvision mismatch raises RuntimeError
        return None


def _install_hint() -> str:
    """What to install: the extra when torchvision is missing; a matching build when it is there
    but does not load with this torch (e.g. "operator torchvision::nms does not exist")."""
    try:
        _import_torchvision_datasets()
    except RuntimeError as e:
        import torch

        return (f"torchvision is installed but does not load with torch {torch.__version__} ({e}); install the "
                "torchvision release built for this torch")
    except ImportError:
        pass
    return "install the extra `pip install 'trainlab[vision]'`"


def _missing(name: str, path: Path, torchvision_ok: bool, download: bool) -> TrainlabError:
    if not torchvision_ok:
        hint = f"{_install_hint()} to download it"
    elif not download:
        hint = "pass download=True (`--set data.download=true`) to download it"
    else:  # only the "files" backend gets here; it never downloads
        hint = "use backend='auto' to download it"
    return TrainlabError(f"{name}: data not found at {path}; {hint}, or place the files there")


def _scaled(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32) / np.float32(255.0)


def _via_torchvision(tv: ModuleType, name: str, root: Path, download: bool) -> VisionData:
    cls_name, folder = _SETS[name]
    cls = getattr(tv, cls_name)
    try:
        train, test = (cls(str(root), train=t, download=download) for t in (True, False))
    except RuntimeError as e:  # torchvision: "Dataset not found ..." or a failed download
        if "not found" in str(e) or "corrupted" in str(e):
            raise _missing(name, root / folder, True, download) from e
        raise TrainlabError(f"{name}: torchvision failed under {root}: {e}") from e
    except (OSError, ValueError, TypeError, AssertionError) as e:
        raise TrainlabError(f"{name}: torchvision failed under {root}: {e!r}") from e

    def arrays(ds: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(ds.data)  # MNIST: uint8 tensor (N, 28, 28); CIFAR: uint8 (N, 32, 32, 3)
        x = x.transpose(0, 3, 1, 2) if x.ndim == 4 else x[:, None]
        return _scaled(x), np.asarray(ds.targets, dtype=np.int64)

    (xtr, ytr), (xte, yte) = arrays(train), arrays(test)
    names = {"mnist": MNIST_CLASSES, "fashion_mnist": FASHION_CLASSES}.get(name)
    return VisionData(xtr, ytr, xte, yte, list(names or train.classes))


def _read_mnist(name: str, root: Path, torchvision_ok: bool, download: bool) -> VisionData:
    raw = root / _SETS[name][1]

    def read(stem: str, magic: int) -> np.ndarray:
        for path in (raw / stem, raw / f"{stem}.gz"):
            if path.is_file():
                return _read_idx(path, magic)
        raise _missing(name, raw / stem, torchvision_ok, download)

    out = []
    for split in ("train", "t10k"):
        x = read(f"{split}-images-idx3-ubyte", _IMAGES_MAGIC)
        y = read(f"{split}-labels-idx1-ubyte", _LABELS_MAGIC)
        if len(x) != len(y):
            raise TrainlabError(f"{name}: {raw}/{split}-*: {len(x)} images but {len(y)} labels")
        out += [_scaled(x[:, None]), y.astype(np.int64)]
    return VisionData(*out, list(MNIST_CLASSES if name == "mnist" else FASHION_CLASSES))


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (big-endian header), plain or gzipped."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as e:
        raise TrainlabError(f"cannot read {path}: {e}") from e
    ndim = 3 if magic == _IMAGES_MAGIC else 1
    header = 4 * (ndim + 1)
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        raise TrainlabError(f"{path} is not an IDX {'image' if ndim == 3 else 'label'} file "
                            f"(expected magic number {magic:#010x})")
    shape = tuple(int.from_bytes(data[4 * i:4 * i + 4], "big") for i in range(1, ndim + 1))
    if len(data) - header != int(np.prod(shape)):
        raise TrainlabError(f"{path} is truncated or corrupt: header says {shape}, "
                            f"found {len(data) - header} data bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_ALLOWED:
            raise TrainlabError(f"refusing to load global {module}.{name}")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module[len("numpy.core."):]  # avoid numpy 2's shim warning
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
    except TrainlabError as e:
        raise TrainlabError(f"{path}: {e} (a CIFAR-10 batch holds only numpy arrays)") from None
    except Exception as e:  # truncated or not a pickle at all
        raise TrainlabError(f"cannot read {path}: {e!r}") from e
    if not isinstance(obj, dict):
        raise TrainlabError(f"{path}: expected a dict, found {type(obj).__name__}")
    # Python 2 pickles may carry bytes keys; make them str.
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _read_cifar10(name: str, root: Path, torchvision_ok: bool, download: bool) -> VisionData:
    folder = root / _SETS[name][1]
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    for f in files:
        if not (folder / f).is_file():
            raise _missing(name, folder / f, torchvision_ok, download)

    def batch(f: str) -> tuple[np.ndarray, np.ndarray]:
        d = _load_pickle(folder / f)
        x, y = d.get("data"), d.get("labels")
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
            raise TrainlabError(f"{folder / f}: 'data' must be a uint8 array of shape (n, 3072)")
        if y is None or len(y) != len(x):
            raise TrainlabError(f"{folder / f}: 'labels' missing or not one per image")
        return x.reshape(-1, 3, 32, 32), np.asarray(y, dtype=np.int64)

    train = [batch(f) for f in files[:5]]
    xte, yte = batch("test_batch")
    names = _load_pickle(folder / "batches.meta").get("label_names")
    if not isinstance(names, list):
        raise TrainlabError(f"{folder / 'batches.meta'}: 'label_names' missing")
    names = [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]
    return VisionData(_scaled(np.concatenate([x for x, _ in train])),
                      np.concatenate([y for _, y in train]), _scaled(xte), yte, names)
