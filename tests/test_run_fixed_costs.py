"""A run's fixed costs, cut without losing durability or changing a number (issue 16 point 4):
recipe.yaml and run.json written by the writer's thread, fsyncs overlapped with the doctor and the
report, checkpoints snapshotted on the loop's thread and encoded on the writer's, lazy metrics rows,
the live doctor's error rules only. Each test pins what must not change."""
from __future__ import annotations

import csv
import hashlib
import inspect
import io
import json
import math
import os
import re
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from trainlab.diagnose import evidence, rules
from trainlab.diagnose.doctor import diagnose
from trainlab.diagnose.live import NEVER_ERRORS
from trainlab.errors import TrainlabError
from trainlab.recipe import load_recipe
from trainlab.report.html import render_report
from trainlab.run import resume_run, run_recipe
from trainlab.rundir import RunDir, versions
from trainlab.safety.atomic import readable_json
from trainlab.train import background
from trainlab.train.background import BackgroundWriter
from trainlab.train.callbacks import LoopState
from trainlab.train.checkpoint import (
    HistoryJSON,
    encode_snapshot,
    load_checkpoint,
    snapshot_checkpoint,
    tensor_bytes,
    write_checkpoint,
)
from trainlab.train.outputs import CSVLogger

RECIPE = {"name": "fixed", "seed": 0, "data": {"name": "moons", "n_samples": 200, "batch_size": 50},
          "model": {"name": "mlp", "hidden": [8]}, "optim": {"name": "adam", "lr": 0.01},
          "stopping": {"epochs": 6}, "checkpoint": {"every": 2}}


# ---- durability: every file atomic (temp file, fsync, rename), every rename made durable ----


class _DiskLog:
    """Records, from every thread, each fsync (of which file or directory) and each rename."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls: list[tuple] = []
        fsync, replace = os.fsync, os.replace

        def logged_fsync(fd: int) -> None:
            fsync(fd)
            self.calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

        def logged_replace(src, dst) -> None:
            replace(src, dst)
            self.calls.append(("rename", str(src), str(dst)))

        monkeypatch.setattr(os, "fsync", logged_fsync)
        monkeypatch.setattr(os, "replace", logged_replace)

    def renames(self, name: str) -> list[int]:
        return [i for i, c in enumerate(self.calls) if c[0] == "rename" and Path(c[2]).name == name]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_every_file_is_fsynced_before_its_rename_and_its_directory_after(tmp_path, monkeypatch):
    log = _DiskLog(monkeypatch)
    run_dir = run_recipe(load_recipe(RECIPE), tmp_path).run_dir.resolve()
    calls = log.calls
    renamed = [c for c in calls if c[0] == "rename"]
    assert {Path(c[2]).name for c in renamed} >= {"recipe.yaml", "run.json", "findings.json", "report.html",
                                                  "epoch-0006.json", "epoch-0006.safetensors"}
    for i, call in enumerate(calls):
        if call[0] != "rename":
            continue
        _, src, dst = call
        assert ("fsync", str(Path(src).resolve())) in calls[:i], f"{dst}: renamed before its data was fsync'd"
        assert ("fsync", str(Path(dst).parent.resolve())) in calls[i + 1:], f"{dst}: directory never fsync'd after"
    # order: recipe.yaml and run.json before any checkpoint; run.json's last write after the last checkpoint's
    # commit record; findings.json and report.html after it
    first_checkpoint = min(log.renames("epoch-0002.safetensors"))
    assert max(log.renames("recipe.yaml")) < first_checkpoint and min(log.renames("run.json")) < first_checkpoint
    final = max(log.renames("run.json"))
    assert max(log.renames("epoch-0006.json")) < final < min(log.renames("findings.json")) < min(log.renames("report.html"))
    # the three end files' renames are made durable by one directory fsync after the last of them
    last = max(log.renames("report.html"))
    assert ("fsync", str(run_dir)) in calls[last + 1:]
    assert RunDir(run_dir).status()["status"] == "finished"


def test_a_new_run_writes_run_json_once_running_with_what_created_recorded(tmp_path):
    result = run_recipe(load_recipe(RECIPE), tmp_path, writer="trainlab test")
    status = RunDir(result.run_dir).status()
    assert status["status"] == "finished" and status["versions"] == versions()
    assert {"created", "command", "recipe", "recipe_sha256", "device", "data"} <= set(status)
    assert "# resolved recipe, written by trainlab test" in (result.run_dir / "recipe.yaml").read_text()
    with pytest.raises(TrainlabError, match="already finished"):
        resume_run(result.run_dir)


def test_a_run_whose_first_files_fail_stops_with_the_error_and_is_not_a_run(tmp_path, monkeypatch):
    def disk_full(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(RunDir, "start", disk_full)
    with pytest.raises(OSError, match="disk full"):
        run_recipe(load_recipe(RECIPE), tmp_path)
    (run_dir,) = tmp_path.iterdir()
    assert not RunDir(run_dir).is_run() and not (run_dir / "checkpoints").exists()
    with pytest.raises(TrainlabError, match="not a trainlab run directory"):  # as for a crash before the files land
        resume_run(run_dir)


# ---- the end: findings and report as the doctor and the report would make them from disk ----


@pytest.mark.parametrize("case", ["classification", "diagnosed", "symmetric", "failed"])
def test_findings_and_report_equal_what_the_files_give(case, tmp_path, monkeypatch):
    recipe = dict(RECIPE)
    loads = []  # the newest checkpoint's weights come from the snapshot the run wrote it from
    monkeypatch.setattr(evidence, "load_checkpoint", lambda path: loads.append(path) or load_checkpoint(path))
    if case == "diagnosed":
        recipe.update(diagnose={"every": 5})
    if case == "symmetric":  # zero init: symmetric_units, which reads the final weights, reports an error
        recipe.update(model={**RECIPE["model"], "init": "zeros"})
    if case == "failed":  # a rate that diverges: the loss becomes non-finite, run.json says failed
        recipe.update(optim={"name": "sgd", "lr": 1e6}, data={**RECIPE["data"], "preprocess": "none"})
    try:
        run_dir = run_recipe(load_recipe(recipe), tmp_path).run_dir
    except TrainlabError:
        (run_dir,) = tmp_path.iterdir()
    run = RunDir(run_dir)
    assert run.status()["status"] == ("failed" if case == "failed" else "finished")
    assert loads == [] or case == "failed"
    assert run.recipe_data() == load_recipe(recipe).to_dict()  # what the run's doctor took from memory
    recorded = run.findings()
    from_disk = [f.to_dict() for f in diagnose(run_dir, write=False)]
    assert json.loads(json.dumps(from_disk)) == recorded["findings"] and "error" not in recorded
    assert ("symmetric_units" in {f["name"] for f in recorded["findings"]}) == (case == "symmetric")
    assert _unstamped((run_dir / "report.html").read_text()) == _unstamped(render_report(run_dir))


def _unstamped(page: str) -> str:
    """The page without what matplotlib's SVGs (the probe figures) vary on each drawing: date, clip-path ids."""
    return re.sub(r"\b[pm][0-9a-f]{8,}\b", "id", re.sub(r"<dc:date>[^<]*</dc:date>", "", page))


# ---- checkpoints: the same bytes and checksums as before, encoded off the loop's thread ----


def _tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"model.w": torch.randn(3, 4, generator=g).t(), "model.b": torch.randn(4, generator=g),
            "step": torch.tensor(5.0), "rng.torch": torch.get_rng_state(), "index": torch.arange(7),
            "f64": torch.randn(2, dtype=torch.float64, generator=g), "f16": torch.randn(3, generator=g).half(),
            "bf16": torch.randn(5, generator=g).bfloat16(), "mask": torch.tensor([True, False, True]),
            "i32": torch.arange(3, dtype=torch.int32), "empty": torch.zeros(0, 3), "scalar": torch.tensor(3),
            "i16": torch.arange(2, dtype=torch.int16), "i8": torch.arange(3, dtype=torch.int8), "é": torch.ones(1)}


def test_tensor_bytes_are_what_safetensors_writes():
    tensors = {k: v.contiguous() for k, v in _tensors().items()}
    blob = tensor_bytes(tensors)
    loaded = load_safetensors(blob)
    assert loaded.keys() == tensors.keys() and all(torch.equal(loaded[k], v) for k, v in tensors.items())
    ascii_names = {k: v for k, v in tensors.items() if k.isascii()}  # safetensors writes other names unescaped
    assert tensor_bytes(ascii_names) == save_safetensors(ascii_names)
    assert tensor_bytes({}) == save_safetensors({})
    shared = torch.arange(4.0)  # tied weights: safetensors refuses them; here each name gets its copy
    assert {k: v.tolist() for k, v in load_safetensors(tensor_bytes({"a": shared, "b": shared[1:]})).items()} == {
        "a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]}


def _old_record(tensors: dict[str, torch.Tensor], state: dict) -> tuple[bytes, dict]:
    """What a checkpoint held before (json.dumps(indent=1) of the record, safetensors.torch.save)."""
    blob = save_safetensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    body = {"format": 1, "state": state, "tensors_sha256": hashlib.sha256(blob).hexdigest()}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return blob, json.loads(json.dumps({**body, "sha256": digest}, indent=1, sort_keys=True))


def _same_json(a, b) -> bool:  # NaN-safe equality of JSON values
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_a_snapshot_encodes_to_the_checkpoint_it_was_taken_as(tmp_path):
    tensors = {k: v for k, v in _tensors().items() if k.isascii()}
    history = [{"epoch": 1, "loss": 0.5, "val_loss": math.nan}, {"epoch": 2, "loss": 1 / 3, "val_loss": 0.25}]
    state = {"epoch": 2, "history": history, "optimizer": {"param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999)}]},
             "callbacks": {"DoctorCallback": {"reported": []}}, "scheduler": None, "ünï": "é"}
    expected_blob, expected_record = _old_record(tensors, state)
    snapshot = snapshot_checkpoint(tensors, state, HistoryJSON())
    with torch.no_grad():  # training goes on: the snapshot keeps the values it was taken with
        for tensor in tensors.values():
            if tensor.is_floating_point():
                tensor.add_(1)
    history[0]["loss"], state["epoch"] = 9.0, 3
    blob, record = encode_snapshot(snapshot)
    assert blob == expected_blob  # the same bytes, so the same tensors_sha256
    assert _same_json(json.loads(record), expected_record)  # the same content and checksums as before
    write_checkpoint(tmp_path / "checkpoints" / "epoch-0002", blob, record)
    loaded, loaded_state = load_checkpoint(tmp_path / "checkpoints" / "epoch-0002.json")  # checksums verified
    assert _same_json(loaded_state, expected_record["state"])
    assert torch.equal(loaded["model.b"], _tensors()["model.b"])
    assert '\n   {"epoch": 1, "loss": 0.5, "val_loss": NaN},\n' in record.decode()  # one history epoch per line


def test_history_json_reencodes_an_epoch_that_changed():
    cache, rows = HistoryJSON(), [{"loss": 1.0}, {"loss": 2.0, "tags": ["a"]}]
    assert cache.texts(rows) == ['{"loss": 1.0}', '{"loss": 2.0, "tags": ["a"]}']
    rows[0]["loss"] = 3.0
    rows[1]["tags"].append("b")  # not a scalar: never reused
    rows.append({"loss": math.nan})
    assert cache.texts(rows) == ['{"loss": 3.0}', '{"loss": 2.0, "tags": ["a", "b"]}', '{"loss": NaN}']
    rows[0] = {"loss": 3.0, "epoch": 1}  # another dict at the same place
    assert cache.texts(rows[:1]) == ['{"epoch": 1, "loss": 3.0}']


def test_readable_json_reads_back_as_json_dumps():
    value = {"b": [1, {"c": [2.5, None, -1e300]}], "a": {"x": "é", "y": {}, 3: "three"}, "e": [], "t": (1, 2)}
    for depth in range(4):
        assert json.loads(readable_json(value, depth)) == json.loads(json.dumps(value))
    text = readable_json({"b": 1, "a": [1, 2]}, depth=2, sort_keys=True)
    assert text == '{\n "a": [\n  1,\n  2\n ],\n "b": 1\n}'


# ---- metrics.csv and the writer's lazy jobs ----


def test_metrics_rows_are_what_csv_dictwriter_writes(tmp_path):
    columns = ["epoch", "lr", "loss", "val_loss", "seconds"]
    history = [{"epoch": 1, "lr": 0.1, "loss": 1 / 3, "val_loss": math.nan, "seconds": 0.5, "extra": "x"},
               {"epoch": 2, "lr": 0.1, "loss": 'a "quoted", text', "seconds": 0.25}]
    logger = CSVLogger(tmp_path / "metrics.csv", columns)
    state = LoopState(None, None, epochs=3)
    state.history = history[:1]
    logger.on_fit_start(state)
    state.logs = history[1]
    logger.on_epoch_end(state)
    expected = io.StringIO(newline="")
    writer = csv.DictWriter(expected, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    assert (tmp_path / "metrics.csv").read_bytes().decode() == expected.getvalue()


def test_lazy_jobs_keep_their_order_and_run_when_waited_for_or_soon(monkeypatch):
    monkeypatch.setattr(background, "LAZY_S", 0.2)
    writer, done = BackgroundWriter(), []
    writer.submit(lambda: done.append("lazy 1"), wake=False)
    writer.submit(lambda: done.append("woken"))
    writer.submit(lambda: done.append("lazy 2"), wake=False)
    writer.wait()  # runs the queued lazy job now
    assert done == ["lazy 1", "woken", "lazy 2"]
    writer.submit(lambda: done.append("lazy 3"), wake=False)
    deadline = time.monotonic() + 10
    while "lazy 3" not in done and time.monotonic() < deadline:  # nobody waits: the thread looks by itself
        time.sleep(0.01)
    assert done[-1] == "lazy 3"
    writer.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("trainlab-writer")]


def test_appends_to_one_file_join_while_queued_and_keep_their_order(tmp_path):
    writer, done = BackgroundWriter(), []
    release = threading.Event()
    writer.submit(lambda: release.wait(10))  # the thread is busy: what follows stays queued
    for i in range(3):
        writer.append(tmp_path / "rows.csv", f"row {i}\r\n")
    writer.append(tmp_path / "events.jsonl", "event 1\n", newline=None)
    writer.submit(lambda: done.append((tmp_path / "rows.csv").read_bytes()), wake=False)
    writer.append(tmp_path / "rows.csv", "row 3\r\n")
    assert writer._submitted == 5  # the three rows became one job (a private count, read for the test)
    release.set()
    writer.close()
    assert done == [b"row 0\r\nrow 1\r\nrow 2\r\n"]  # the later row waited for the job queued before it
    assert (tmp_path / "rows.csv").read_bytes() == b"row 0\r\nrow 1\r\nrow 2\r\nrow 3\r\n"
    assert (tmp_path / "events.jsonl").read_bytes() == f"event 1{os.linesep}".encode()


# ---- the live doctor: only the rules that can give an error-level finding ----


def test_the_rules_the_live_doctor_leaves_out_never_give_errors():
    for rule in NEVER_ERRORS - {rules.symmetric_units}:  # symmetric_units: needs the saved weights
        assert '"error"' not in inspect.getsource(rule), f"{rule.__name__} can report an error: the live doctor needs it"
    assert {r.__name__ for r in rules.RULES if r not in NEVER_ERRORS} == {
        "non_finite_loss", "exploding_gradients", "dead_relus", "learning_rate_too_high"}


def test_versions_is_a_fresh_dict_each_time():
    first = versions()
    first["torch"] = "edited"
    assert versions()["torch"] == torch.__version__


def test_recipe_yaml_is_the_recipes_own_yaml():
    from trainlab.rundir import recipe_yaml

    examples = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))
    recipes = [load_recipe(RECIPE)] + [load_recipe(path) for path in examples]
    assert len(recipes) > 5
    for recipe in recipes:
        assert recipe_yaml(recipe) == recipe.to_yaml()
