"""Datasets from the user's files (csv, npy, npz, parquet): training end to end, the header rule, task
inference, every bad-file error with its row and column, and fingerprints."""
from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

import trainlab
from trainlab.cli import main
from trainlab.data.files import changed_files, csv_file, fingerprint, npy, npz, parquet
from trainlab.data.readers import is_header
from trainlab.errors import TrainlabError
from trainlab.run import load_data
from trainlab.rundir import RunDir

DOCS = Path(__file__).parent.parent / "docs"


def write_csv(path: Path, rows: list[list], header: list[str] | None = None) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def classification_csv(path: Path, labels=("cat", "dog"), n: int = 120, header: bool = True) -> Path:
    x, y = make_classification(n_samples=n, n_features=4, n_informative=3, n_redundant=0, class_sep=2.0, random_state=0)
    names = ["x0", "x1", "x2", "x3", "label"] if header else None
    return write_csv(path, [[*r, labels[t] if labels else t] for r, t in zip(x.round(4).tolist(), y)], names)


def train(data: dict, tmp_path: Path, epochs: int = 2) -> trainlab.RunResult:
    recipe = trainlab.load_recipe({"name": "files", "data": {"batch_size": 16, **data}, "optim": {"name": "adam", "lr": 0.03},
                                   "model": {"name": "mlp", "hidden": [8]}, "stopping": {"epochs": epochs}})
    return trainlab.run_recipe(recipe, tmp_path / "runs")


# ---- training end to end ----


def test_csv_with_header_and_text_labels_trains_and_predicts_the_users_labels(tmp_path):
    path = classification_csv(tmp_path / "train.csv")
    result = train({"name": "csv", "path": str(path), "target": "label", "preprocess": "zscore"}, tmp_path, 5)
    status = RunDir(result.run_dir).status()
    assert status["data"]["class_names"] == ["cat", "dog"] and status["data"]["input_shape"] == [4]
    assert status["data"]["files"] == [fingerprint(path)]
    # labels read in step with their rows: measured 0.917 on the 24 test rows after 5 epochs; chance is 0.5,
    # and 0.75 (18 of 24) leaves room for other CPUs' float sums
    assert result.test["test_accuracy"] > 0.75
    # predict without the training file, from a file without the target column: the labels come back as written
    path.unlink()
    new = write_csv(tmp_path / "new.csv", [[0.5, -1.0, 0.2, 1.5], [-2.0, 0.3, 0.1, 0.0]], ["x0", "x1", "x2", "x3"])
    assert main(["predict", str(result.run_dir), str(new)]) == 0
    with open(tmp_path / "new.predictions.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["p_cat", "p_dog", "predicted"] and {r[2] for r in rows[1:]} <= {"cat", "dog"}


def test_csv_with_numeric_labels_is_classification_with_numbers_as_names(tmp_path):
    path = classification_csv(tmp_path / "train.csv", labels=None)
    data = csv_file(0, str(path), "label")
    assert data.task == "classification" and data.class_names == ["0", "1"]
    assert data.info["feature_columns"] == ["x0", "x1", "x2", "x3"] and data.info["target_column"] == "label"
    result = train({"name": "csv", "path": str(path), "target": "label"}, tmp_path)
    assert RunDir(result.run_dir).status()["data"]["task"] == "classification"


def test_make_regression_csv_trains_as_regression(tmp_path):
    x, y = make_regression(n_samples=100, n_features=3, noise=1.0, random_state=0)
    path = write_csv(tmp_path / "reg.csv", [[*r, t] for r, t in zip(x.tolist(), y.tolist())], ["a", "b", "c", "y"])
    data = csv_file(0, str(path), "y")
    assert data.task == "regression" and data.y.shape == (100, 1)
    np.testing.assert_allclose(data.y[:, 0], y, rtol=1e-6)  # float32 of the written values
    result = train({"name": "csv", "path": str(path), "target": "y", "features": ["c", "a"]}, tmp_path)
    assert RunDir(result.run_dir).status()["data"]["input_shape"] == [2]
    assert np.isfinite(result.test["test_loss"])


def test_relative_paths_are_resolved_against_the_current_directory(tmp_path, monkeypatch):
    classification_csv(tmp_path / "train.csv")
    monkeypatch.chdir(tmp_path)
    data = csv_file(0, "train.csv", "label")
    assert data.info["files"][0]["path"] == str((tmp_path / "train.csv").resolve())


def test_csv_test_path_is_the_test_split_and_its_labels_must_be_known(tmp_path):
    path = classification_csv(tmp_path / "train.csv")
    test = write_csv(tmp_path / "test.csv", [[0, 0, 0, 0, "dog"], [1, 1, 1, 1, "cat"], [2, 2, 2, 2, "dog"]],
                     ["x0", "x1", "x2", "x3", "label"])
    data = csv_file(0, str(path), "label", test_path=str(test))
    assert data.x_test.shape == (3, 4) and data.y_test.tolist() == [1, 0, 1]
    assert [f["path"] for f in data.info["files"]] == [str(path), str(test)]
    write_csv(test, [[0, 0, 0, 0, "cow"]], ["x0", "x1", "x2", "x3", "label"])
    with pytest.raises(TrainlabError, match=r"test.csv: row 2, column 5 'label': label 'cow' does not occur in the "
                                            r"training file; its classes are cat, dog"):
        csv_file(0, str(path), "label", test_path=str(test))


# ---- task inference ----


@pytest.mark.parametrize(("labels", "task", "names"), [
    (["3", "1", "2"] * 4, "classification", ["1", "2", "3"]),             # few whole numbers: classes, by value
    ([str(v) for v in range(51)], "regression", None),                      # 51 distinct whole numbers: values
    ([str(v) for v in range(50)], "classification", None),                  # 50: still classes
    (["0.5", "1.5", "1"] * 4, "regression", None),                          # fractions: values
    (["true", "false"] * 6, "classification", ["false", "true"]),           # booleans as text: classes
    (["10", "9", "100"] * 4, "classification", ["9", "10", "100"]),         # sorted as numbers, not as text
])
def test_task_inference_rule(tmp_path, labels, task, names):
    path = write_csv(tmp_path / "t.csv", [[i, label] for i, label in enumerate(labels)], ["x", "t"])
    data = csv_file(0, str(path), "t")
    assert data.task == task
    if names:
        assert data.class_names == names
        assert [names[i] for i in data.y] == [str(int(float(v))) if v[0].isdigit() else v for v in labels]


def test_task_can_be_forced_and_text_cannot_be_regression(tmp_path):
    path = write_csv(tmp_path / "t.csv", [[i, i % 3] for i in range(12)], ["x", "t"])
    assert csv_file(0, str(path), "t", task="regression").task == "regression"
    words = write_csv(tmp_path / "w.csv", [[1, "7"], [2, "seven"]], ["x", "t"])
    with pytest.raises(TrainlabError, match=r"w.csv: row 3, column 2 't': 'seven' is not a number; regression targets"):
        csv_file(0, str(words), "t", task="regression")
    one = write_csv(tmp_path / "one.csv", [[1, "a"], [2, "a"]], ["x", "t"])
    with pytest.raises(TrainlabError, match="one value only"):
        csv_file(0, str(one), "t")


def test_task_is_a_recipe_parameter():
    recipe = trainlab.load_recipe({"data": {"name": "csv", "path": "x.csv", "target": "y", "task": "regression"}})
    assert recipe.data.params()["task"] == "regression"
    with pytest.raises(trainlab.RecipeError, match="data.task"):
        trainlab.load_recipe({"data": {"name": "csv", "path": "x.csv", "target": "y", "task": "ordinal"}})


# ---- the header rule ----


def test_header_rule():
    assert is_header(["x1", "x2", "label"])
    assert not is_header(["1.5", "2", "cat"])  # a number: data
    assert not is_header(["x1", "", "label"])  # an empty cell: data
    assert not is_header(["nan", "inf"])       # nan and inf are numbers
    assert is_header(["1", "2"], True) and not is_header(["a", "b"], False)


def test_numeric_first_row_is_data_and_columns_are_numbered(tmp_path):
    path = write_csv(tmp_path / "n.csv", [[0.1, 0.2, 0], [0.3, 0.4, 1], [0.5, 0.6, 0], [0.7, 0.8, 1]])
    data = csv_file(0, str(path), 3)
    assert len(data.x) == 4 and data.info["header"] is False and data.info["feature_columns"] == ["1", "2"]
    with pytest.raises(TrainlabError, match=r"target 'label' is not a column \(the file has no header, so columns "
                                            r"are named by number: 1, 2, …\); its columns are 1, 2, 3"):
        csv_file(0, str(path), "label")


def test_empty_cell_in_the_first_row_makes_it_data_and_the_error_names_the_cell(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("a,,label\n1,2,0\n3,4,1\n")
    with pytest.raises(TrainlabError, match=r"e.csv: row 1, column 1: 'a' is not a number; features must be numbers"):
        csv_file(0, str(path), 3)
    path.write_text("1,,0\n1,2,0\n3,4,1\n")
    with pytest.raises(TrainlabError, match=r"e.csv: row 1, column 2: the cell is empty"):
        csv_file(0, str(path), 3)


def test_header_can_be_forced_either_way(tmp_path):
    path = write_csv(tmp_path / "h.csv", [[0.1, 0], [0.2, 1], [0.3, 0], [0.4, 1]], ["2020", "label"])
    assert len(csv_file(0, str(path), "label", header=True).x) == 4  # '2020' is a name here
    names = write_csv(tmp_path / "names.csv", [[0.1, 0], [0.2, 1]], ["x", "label"])
    with pytest.raises(TrainlabError, match=r"names.csv: row 1, column 1: 'x' is not a number"):
        csv_file(0, str(names), 2, header=False)


# ---- bad files ----


def test_csv_errors_name_file_row_and_column(tmp_path):
    bad = tmp_path / "bad.csv"
    cases = [
        (b"x,y,label\n1,2,a\n3,oops,b\n", "label", r"bad.csv: row 3, column 2 'y': 'oops' is not a number"),
        (b"x,y,label\n1,2,a\n3,4\n", "label", r"bad.csv: row 3 has 2 cells but the header has 3"),
        (b"x,y,label\n1,2,a\n3,4,b,9\n", "label", r"row 3 has 4 cells but the header has 3; column 4 is '9'"),
        (b"x,y,label\n1,2,a\n3,\xe94,b\n", "label", r"bad.csv: row 3, character 3: byte 0xe9 is not UTF-8 text"),
        (b"", "label", r"bad.csv: the file is empty"),
        (b"\n\n", "label", r"bad.csv: the file is empty"),
        (b"x,y,label\n", "label", r"bad.csv: has a header but no data rows"),
        (b"x,y,label\n1,2,a\n", "lable", r"target 'lable' is not a column; its columns are x, y, label"),
        (b"x,y,label\n1,2,\n3,4,b\n", "label", r"bad.csv: row 2, column 3 'label': the target is empty"),
        (b"x,x,label\n1,2,a\n", "label", r"row 1: the column name 'x' appears twice \(columns 1 and 2\)"),
        (b"x,y,label\n1,2,a\n3,4e300,b\n", "label", r"row 3, column 2 'y': 4e\+300 is beyond the range of float32"),
    ]
    for content, target, message in cases:
        bad.write_bytes(content)
        with pytest.raises(TrainlabError, match=message):
            csv_file(0, str(bad), target)
    bad.write_bytes(b"x,y,label\n1,2,a\n3,4,b\n")
    with pytest.raises(TrainlabError, match=r"features: 'z' is not a column of this file; its columns are x, y, label"):
        csv_file(0, str(bad), "label", features=["x", "z"])
    with pytest.raises(TrainlabError, match=r"no such file"):
        csv_file(0, str(tmp_path / "missing.csv"), "label")
    bad.write_bytes(b"label\na\nb\n")
    with pytest.raises(TrainlabError, match=r"bad.csv: has only the target column 'label'"):
        csv_file(0, str(bad), "label")
    bad.write_bytes(b"x,y,label,\n1,2,a,\n3,4,b,\n")  # a trailing comma: the empty name makes row 1 data
    with pytest.raises(TrainlabError, match=r"row 1, column 1: 'x' is not a number; features must be numbers; "
                                            r"if row 1 is a header, say so \(recipe: header: true; predict: --header\)"):
        csv_file(0, str(bad), 3)


def test_nonfinite_features_are_refused_naming_the_first_cells(tmp_path):
    path = write_csv(tmp_path / "nan.csv", [[1, 2, "a"], [float("nan"), 2, "b"], [1, float("inf"), "a"],
                                            [float("-inf"), 1, "b"], [float("nan"), 0, "a"]], ["u", "v", "label"])
    with pytest.raises(TrainlabError, match=r"nan.csv: NaN or inf in the features: row 3, column 1 'u' = nan; "
                                            r"row 4, column 2 'v' = inf; row 5, column 1 'u' = -inf and 1 more"):
        csv_file(0, str(path), "label")


def test_array_errors(tmp_path):
    x, y = np.ones((5, 2)), np.arange(5) % 2
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "short.npy", y[:4])
    np.save(tmp_path / "text.npy", np.array([["a", "b"]] * 5))
    np.save(tmp_path / "empty.npy", np.zeros((0, 2)))
    np.save(tmp_path / "object.npy", np.array([{"a": 1}] * 5, dtype=object), allow_pickle=True)
    with pytest.raises(TrainlabError, match=r"x.npy has 5 examples but .*short.npy has 4"):
        npy(0, str(tmp_path / "x.npy"), str(tmp_path / "short.npy"))
    with pytest.raises(TrainlabError, match=r"text.npy: inputs of dtype <U1 cannot be used; give numbers"):
        npy(0, str(tmp_path / "text.npy"), str(tmp_path / "y.npy"))
    with pytest.raises(TrainlabError, match=r"empty.npy: the array of shape \(0, 2\) holds no examples"):
        npy(0, str(tmp_path / "empty.npy"), str(tmp_path / "y.npy"))
    with pytest.raises(TrainlabError, match=r"object.npy: not a readable .npy array without unpickling"):
        npy(0, str(tmp_path / "object.npy"), str(tmp_path / "y.npy"))
    x[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(TrainlabError, match=r"nan.npy: NaN or inf in the features, first at example x\[3\], feature 1"):
        npy(0, str(tmp_path / "nan.npy"), str(tmp_path / "y.npy"))
    np.savez(tmp_path / "obj.npz", x=np.ones((5, 2)), y=np.array([None] * 5, dtype=object))
    with pytest.raises(TrainlabError, match=r"obj.npz: array 'y' cannot be read \(Object arrays cannot be loaded when allow_pickle=False\)"):
        npz(0, str(tmp_path / "obj.npz"))
    np.savez(tmp_path / "half.npz", x=np.ones((5, 2)), y=y, x_test=np.ones((2, 2)))
    with pytest.raises(TrainlabError, match=r"half.npz: holds 'x_test' but not 'y_test'; a test split needs both"):
        npz(0, str(tmp_path / "half.npz"))
    with pytest.raises(TrainlabError, match=r"half.npz: has no array 'inputs'; it holds x, y, x_test"):
        npz(0, str(tmp_path / "half.npz"), inputs="inputs")
    (tmp_path / "fake.npz").write_text("not a zip")
    with pytest.raises(TrainlabError, match=r"fake.npz: not a readable .npz archive"):
        npz(0, str(tmp_path / "fake.npz"))


def test_npz_test_arrays_are_the_test_split(tmp_path):
    rng = np.random.default_rng(0)
    x, x_test = rng.normal(size=(60, 3)), rng.normal(size=(20, 3))
    np.savez(tmp_path / "d.npz", x=x, y=(x[:, 0] > 0).astype(int), x_test=x_test, y_test=(x_test[:, 0] > 0).astype(int))
    data = npz(0, str(tmp_path / "d.npz"))
    assert data.task == "classification" and data.x_test.shape == (20, 3) and data.class_names == ["0", "1"]
    result = train({"name": "npz", "path": str(tmp_path / "d.npz")}, tmp_path)
    assert RunDir(result.run_dir).status()["data"]["n_test"] == 20  # the archive's test arrays, not a split
    np.savez(tmp_path / "named.npz", images=x, labels=np.where(x[:, 0] > 0, "pos", "neg"))
    recipe = trainlab.load_recipe({"data": {"name": "npz", "path": str(tmp_path / "named.npz"), "inputs": "images",
                                            "targets": "labels"}})
    named = load_data(recipe)
    assert named.class_names == ["neg", "pos"] and named.x_test is None and len(named.x) == 60


def test_npy_with_text_labels_and_a_test_split(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.where(x[:, 1] > 0, "up", "down"))
    np.save(tmp_path / "xt.npy", x[:10])
    np.save(tmp_path / "yt.npy", np.where(x[:10, 1] > 0, "up", "down"))
    data = npy(0, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), str(tmp_path / "xt.npy"), str(tmp_path / "yt.npy"))
    assert data.class_names == ["down", "up"] and data.x_test.shape == (10, 2)
    assert len(data.info["files"]) == 4
    with pytest.raises(TrainlabError, match="give both"):
        npy(0, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), test_path=str(tmp_path / "xt.npy"))


# ---- parquet ----


def test_parquet_trains_and_names_null_cells(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    x, y = make_classification(n_samples=80, n_features=3, n_informative=2, n_redundant=0, random_state=1)
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "kind": np.where(y == 1, "yes", "no")})
    pq.write_table(table, tmp_path / "d.parquet")
    data = parquet(0, str(tmp_path / "d.parquet"), "kind")
    assert data.class_names == ["no", "yes"] and data.x.shape == (80, 3)
    train({"name": "parquet", "path": str(tmp_path / "d.parquet"), "target": "kind"}, tmp_path)
    pq.write_table(pa.table({"a": [1.0, None, 3.0], "kind": ["x", "y", "x"]}), tmp_path / "null.parquet")
    with pytest.raises(TrainlabError, match=r"null.parquet: row 2, column 1 'a': the cell is empty \(null\)"):
        parquet(0, str(tmp_path / "null.parquet"), "kind")
    pq.write_table(pa.table({"a": ["p", "q"], "kind": ["x", "y"]}), tmp_path / "text.parquet")
    with pytest.raises(TrainlabError, match=r"column 1 'a' has type string; features must be numbers or booleans"):
        parquet(0, str(tmp_path / "text.parquet"), "kind")


def test_parquet_without_pyarrow_says_how_to_install_it(tmp_path, monkeypatch):
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import pyarrow.parquet now raises ImportError
    with pytest.raises(TrainlabError, match=r"Parquet files need pyarrow: pip install 'trainlab\[parquet\]'"):
        parquet(0, str(tmp_path / "d.parquet"), "kind")


# ---- fingerprints ----


def test_fingerprints_notice_a_changed_byte_a_new_size_and_a_missing_file(tmp_path):
    path = classification_csv(tmp_path / "d.csv")
    recorded = [fingerprint(path)]
    assert recorded[0]["size"] == path.stat().st_size and len(recorded[0]["sha256"]) == 64
    assert changed_files(recorded) == []
    content = bytearray(path.read_bytes())
    content[10] = ord("7") if content[10] != ord("7") else ord("8")  # one byte, same size
    path.write_bytes(bytes(content))
    changed = f"{path}: contents changed (sha256 {recorded[0]['sha256'][:12]}… → {fingerprint(path)['sha256'][:12]}…)"
    assert changed_files(recorded) == [changed]
    path.write_bytes(bytes(content) + b"\n")
    assert changed_files(recorded)[0].endswith(f"size changed from {recorded[0]['size']} to {len(content) + 1} bytes")
    path.unlink()
    assert changed_files(recorded)[0].startswith(f"{path}: missing (recorded {recorded[0]['size']} bytes")


# ---- docs/data.md ----


def test_data_md_examples_run(tmp_path, monkeypatch):
    """The page's Python block writes the files, its recipe trains (`trainlab run` in this process) and its
    `trainlab predict` runs as shown, in a new process as a user would run it."""
    text = (DOCS / "data.md").read_text()
    monkeypatch.chdir(tmp_path)
    exec("\n".join(re.findall(r"```python\n(.*?)```", text, re.DOTALL)), {})  # noqa: S102  (the page's own example)
    recipe = re.search(r"```yaml\n# my_data.yaml\n(.*?)```", text, re.DOTALL).group(1)
    (tmp_path / "my_data.yaml").write_text(recipe + "stopping: {epochs: 2}\n")
    run, predict = re.findall(r"^\$ (trainlab .*)$", text, re.MULTILINE)
    assert main([*run.split()[1:], "--quiet"]) == 0
    done = subprocess.run(predict, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, (predict, done.stderr)
    with open(tmp_path / "new.predictions.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["p_no", "p_yes", "predicted"] and len(rows) == 6
