"""Tests for trainlab.data.vision on tiny fixtures written in the real on-disk formats."""
from __future__ import annotations

import gzip
import os
import pickle
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from trainlab.data import vision
from trainlab.data.vision import FASHION_CLASSES, MNIST_CLASSES, VisionData, load_vision
from trainlab.errors import TrainlabError

HAVE_TORCHVISION = vision._torchvision_datasets() is not None
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


# ---------------------------------------------------------------- fixture writers

def write_idx(path: Path, arr: np.ndarray, gz: bool) -> Path:
    """Write uint8 ``arr`` as an IDX file: magic 0x0000 08 <ndim>, then big-endian sizes."""
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def make_mnist(root: Path, folder: str = "MNIST", gz: bool = True) -> dict[str, np.ndarray]:
    """6 train and 4 test 28×28 images; image i has pixel (i, i) = 255, the rest i * 10."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, n in (("train", 6), ("t10k", 4)):
        x = np.stack([np.full((28, 28), i * 10, np.uint8) for i in range(n)])
        x[np.arange(n), np.arange(n), np.arange(n)] = 255
        y = (np.arange(n) * 3 + (split == "t10k")) % 10
        write_idx(raw / f"{split}-images-idx3-ubyte", x, gz)
        write_idx(raw / f"{split}-labels-idx1-ubyte", y.astype(np.uint8), gz)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    return arrays


def cifar_batch(n: int, start: int) -> tuple[np.ndarray, list[int]]:
    """``n`` rows of 3072 bytes laid out as CIFAR does: 1024 red, 1024 green, 1024 blue (row-major)."""
    rng = np.random.default_rng(start)
    data = rng.integers(0, 255, size=(n, 3072), dtype=np.uint8)
    data[:, 0] = 255  # red channel, pixel (0, 0)
    data[:, 1024 + 32 * 5 + 7] = 0  # green channel, pixel (5, 7)
    return data, [(start + i) % 10 for i in range(n)]


def make_cifar(root: Path, sizes: tuple[int, ...] = (2, 1, 2, 1, 2), n_test: int = 3) -> dict:
    """A ``cifar-10-batches-py`` folder with 5 data batches, test_batch and batches.meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    xs, ys, start = [], [], 0
    for i, n in enumerate(sizes, 1):
        data, labels = cifar_batch(n, start)
        start += n
        entry = {"batch_label": f"training batch {i} of 5", "labels": labels, "data": data,
                 "filenames": [f"img_{start + k}.png" for k in range(n)]}
        if i == 2:  # a batch loaded from a Python 2 pickle may carry bytes keys
            entry = {k.encode(): v for k, v in entry.items()}
        blob = pickle.dumps(entry, protocol=5 if i == 3 else 2)  # 2 like the real files; 5 uses _frombuffer
        if i == 1:  # the real files (numpy 1) name numpy.core, not numpy 2's numpy._core
            blob = blob.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
            assert b"cnumpy.core.multiarray\n_reconstruct" in blob
        (folder / f"data_batch_{i}").write_bytes(blob)
        xs.append(data)
        ys += labels
    x_test, y_test = cifar_batch(n_test, 100)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"batch_label": "testing batch 1 of 1", "labels": y_test, "data": x_test}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"num_cases_per_batch": 10000, "label_names": CIFAR_NAMES, "num_vis": 3072}, f, 2)
    return {"x_train": np.concatenate(xs), "y_train": ys, "x_test": x_test, "y_test": y_test}


def check_arrays(d: VisionData, shape_train: tuple, shape_test: tuple) -> None:
    assert isinstance(d, VisionData)
    assert d.x_train.shape == shape_train and d.x_test.shape == shape_test
    assert d.x_train.dtype == np.float32 and d.x_test.dtype == np.float32
    assert d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    assert d.y_train.shape == shape_train[:1] and d.y_test.shape == shape_test[:1]
    for x in (d.x_train, d.x_test):
        assert 0.0 <= x.min() and x.max() == 1.0


# ---------------------------------------------------------------- the "files" backend

@pytest.mark.parametrize("gz", [True, False])
def test_mnist_files(tmp_path, gz):
    a = make_mnist(tmp_path, gz=gz)
    d = load_vision("mnist", tmp_path, backend="files")
    check_arrays(d, (6, 1, 28, 28), (4, 1, 28, 28))
    assert d.x_train[3, 0, 3, 3] == 1.0  # pixel 255 -> 1.0
    assert d.x_train[3, 0, 0, 0] == np.float32(30 / 255)
    np.testing.assert_array_equal(d.x_test[:, 0] * 255, a["x_t10k"].astype(np.float32))
    assert d.y_train.tolist() == [0, 3, 6, 9, 2, 5]
    assert d.y_test.tolist() == [1, 4, 7, 0]
    assert d.class_names == [str(i) for i in range(10)] == MNIST_CLASSES


def test_fashion_mnist_files(tmp_path):
    make_mnist(tmp_path, folder="FashionMNIST")
    d = load_vision("fashion_mnist", str(tmp_path), backend="files")
    check_arrays(d, (6, 1, 28, 28), (4, 1, 28, 28))
    assert d.class_names == FASHION_CLASSES
    assert d.class_names[0] == "T-shirt/top" and d.class_names[9] == "Ankle boot"


def test_cifar10_files(tmp_path):
    a = make_cifar(tmp_path)
    d = load_vision("cifar10", tmp_path, backend="files")
    check_arrays(d, (8, 3, 32, 32), (3, 3, 32, 32))
    assert (d.x_train[:, 0, 0, 0] == 1.0).all()  # red (0, 0) was 255
    assert (d.x_train[:, 1, 5, 7] == 0.0).all()  # green (5, 7) was 0
    np.testing.assert_array_equal(d.x_train.reshape(8, -1) * 255, a["x_train"].astype(np.float32))
    np.testing.assert_array_equal(d.x_test.reshape(3, -1) * 255, a["x_test"].astype(np.float32))
    assert d.y_train.tolist() == a["y_train"] == list(range(8))
    assert d.y_test.tolist() == a["y_test"]
    assert d.class_names == CIFAR_NAMES


def test_result_is_frozen(tmp_path):
    make_mnist(tmp_path)
    d = load_vision("mnist", tmp_path, backend="files")
    with pytest.raises(AttributeError):
        d.x_train = None  # type: ignore[misc]


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("gz", [True, False])
def test_truncated_idx(tmp_path, gz):
    make_mnist(tmp_path, gz=gz)
    path = tmp_path / "MNIST" / "raw" / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    data = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    data = data[:-100]
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(TrainlabError, match="train-images-idx3-ubyte") as e:
        load_vision("mnist", tmp_path, backend="files")
    assert "truncated" in str(e.value)


def test_truncated_gzip_stream(tmp_path):
    make_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(TrainlabError, match="t10k-labels-idx1-ubyte.gz"):
        load_vision("mnist", tmp_path, backend="files")


def test_bad_magic(tmp_path):
    make_mnist(tmp_path, gz=False)
    raw = tmp_path / "MNIST" / "raw"
    # a labels file where images are expected: magic 0x801 instead of 0x803
    (raw / "train-images-idx3-ubyte").write_bytes((raw / "train-labels-idx1-ubyte").read_bytes())
    with pytest.raises(TrainlabError, match=r"train-images-idx3-ubyte.*0x00000803"):
        load_vision("mnist", tmp_path, backend="files")


def test_label_count_mismatch(tmp_path):
    make_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8), gz=False)
    with pytest.raises(TrainlabError, match="4 images but 3 labels"):
        load_vision("mnist", tmp_path, backend="files")


def no_torchvision(monkeypatch):
    monkeypatch.setattr(vision, "_torchvision_datasets", lambda: None)


def fake_torchvision(monkeypatch, **classes):
    module = types.SimpleNamespace(**classes)
    monkeypatch.setattr(vision, "_torchvision_datasets", lambda: module)


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST/raw"), ("fashion_mnist", "FashionMNIST/raw"),
                                          ("cifar10", "cifar-10-batches-py")])
def test_missing_without_torchvision(tmp_path, monkeypatch, name, folder):
    no_torchvision(monkeypatch)
    root = tmp_path / "nowhere"
    with pytest.raises(TrainlabError) as e:
        load_vision(name, root, download=True)  # auto: falls back to files, cannot download
    msg = str(e.value)
    assert str(root / folder) in msg
    assert "pip install 'trainlab[vision]'" in msg and "place the files there" in msg


def test_missing_with_torchvision_suggests_download(tmp_path, monkeypatch):
    fake_torchvision(monkeypatch)  # torchvision "importable"; the files backend still reads locally
    with pytest.raises(TrainlabError) as e:
        load_vision("mnist", tmp_path, backend="files")
    msg = str(e.value)
    assert str(tmp_path / "MNIST" / "raw") in msg
    assert "download=True" in msg and "--set data.download=true" in msg


def test_missing_one_cifar_file(tmp_path):
    make_cifar(tmp_path)
    os.remove(tmp_path / "cifar-10-batches-py" / "batches.meta")
    with pytest.raises(TrainlabError, match="batches.meta"):
        load_vision("cifar10", tmp_path, backend="files")


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def test_cifar_refuses_disallowed_global(tmp_path):
    make_cifar(tmp_path)
    marker = tmp_path / "pwned"
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_4", "wb") as f:
        pickle.dump({"data": _Evil(marker), "labels": [0]}, f, protocol=2)
    with pytest.raises(TrainlabError, match=r"data_batch_4.*refusing to load global .*system"):
        load_vision("cifar10", tmp_path, backend="files")
    assert not marker.exists()


def test_cifar_refuses_other_globals(tmp_path):
    make_cifar(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((1, 3072), np.uint8), "labels": [0], "x": Path("/")}, f)
    with pytest.raises(TrainlabError, match="test_batch.*refusing"):
        load_vision("cifar10", tmp_path, backend="files")


def test_cifar_bad_batch(tmp_path):
    make_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(TrainlabError, match="data_batch_1"):
        load_vision("cifar10", tmp_path, backend="files")
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f)
    with pytest.raises(TrainlabError, match=r"data_batch_1.*\(n, 3072\)"):
        load_vision("cifar10", tmp_path, backend="files")


def test_unknown_name_and_backend(tmp_path):
    with pytest.raises(TrainlabError, match="did you mean 'cifar10'"):
        load_vision("cifar", tmp_path)
    with pytest.raises(TrainlabError, match="backend"):
        load_vision("mnist", tmp_path, backend="pil")  # type: ignore[arg-type]


# ---------------------------------------------------------------- backend selection

def test_auto_without_torchvision_reads_files(tmp_path, monkeypatch):
    no_torchvision(monkeypatch)
    make_mnist(tmp_path)
    d = load_vision("mnist", tmp_path)
    check_arrays(d, (6, 1, 28, 28), (4, 1, 28, 28))
    assert d.y_train.tolist() == [0, 3, 6, 9, 2, 5]


def test_torchvision_backend_requires_torchvision(tmp_path, monkeypatch):
    no_torchvision(monkeypatch)
    with pytest.raises(TrainlabError, match=r"pip install 'trainlab\[vision\]'"):
        load_vision("mnist", tmp_path, backend="torchvision")



def test_broken_torchvision_is_named_not_taken_for_missing(tmp_path, monkeypatch):
    def broken():  # what torchvision built for another torch raises on import
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(vision, "_import_torchvision_datasets", broken)
    with pytest.raises(TrainlabError, match=r"torchvision is installed but does not load with torch .*"
                                            r"operator torchvision::nms does not exist"):
        load_vision("mnist", tmp_path, backend="torchvision")
    with pytest.raises(TrainlabError, match="does not load with torch .* to download it, or place the files there"):
        load_vision("mnist", tmp_path)  # auto: falls back to the files, which are not there

def test_torchvision_arrays_are_converted(tmp_path, monkeypatch):
    """The torchvision path turns MNIST tensors and CIFAR's HWC arrays into (N, C, H, W) float32."""
    a = make_cifar(tmp_path)

    class FakeMNIST:
        def __init__(self, root, train, download):
            n = 6 if train else 4
            self.data = torch.full((n, 28, 28), 255, dtype=torch.uint8)
            self.targets = torch.arange(n)

    class FakeCIFAR10:
        def __init__(self, root, train, download):
            x = a["x_train"] if train else a["x_test"]
            self.data = x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # what torchvision holds
            self.targets = a["y_train"] if train else a["y_test"]
            self.classes = CIFAR_NAMES

    fake_torchvision(monkeypatch, MNIST=FakeMNIST, CIFAR10=FakeCIFAR10)
    m = load_vision("mnist", tmp_path)
    check_arrays(m, (6, 1, 28, 28), (4, 1, 28, 28))
    assert m.class_names == MNIST_CLASSES and m.y_test.tolist() == [0, 1, 2, 3]
    via_tv = load_vision("cifar10", tmp_path)
    via_files = load_vision("cifar10", tmp_path, backend="files")
    for field in ("x_train", "y_train", "x_test", "y_test", "class_names"):
        np.testing.assert_array_equal(getattr(via_tv, field), getattr(via_files, field))


def test_torchvision_not_found_is_translated(tmp_path, monkeypatch):
    class FakeMNIST:
        def __init__(self, root, train, download):
            raise RuntimeError("Dataset not found. You can use download=True to download it")

    fake_torchvision(monkeypatch, MNIST=FakeMNIST)
    with pytest.raises(TrainlabError) as e:
        load_vision("mnist", tmp_path)
    assert str(tmp_path / "MNIST" / "raw") in str(e.value)
    assert "--set data.download=true" in str(e.value)


@pytest.mark.skipif(not HAVE_TORCHVISION, reason="torchvision is not importable here")
def test_auto_uses_real_torchvision(tmp_path):
    # torchvision's MNIST reads the uncompressed raw files (no checksum); CIFAR10 checks md5s,
    # so only MNIST can be read from a fixture through real torchvision.
    make_mnist(tmp_path, gz=False)
    via_tv = load_vision("mnist", tmp_path, backend="auto")
    via_files = load_vision("mnist", tmp_path, backend="files")
    for field in ("x_train", "y_train", "x_test", "y_test", "class_names"):
        np.testing.assert_array_equal(getattr(via_tv, field), getattr(via_files, field))
    check_arrays(via_tv, (6, 1, 28, 28), (4, 1, 28, 28))


@pytest.mark.skipif(not HAVE_TORCHVISION, reason="torchvision is not importable here")
def test_real_torchvision_missing_files(tmp_path):
    with pytest.raises(TrainlabError, match="download=True"):
        load_vision("mnist", tmp_path / "empty", backend="torchvision")
