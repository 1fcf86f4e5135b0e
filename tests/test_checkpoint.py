"""Checkpoints: round trip, and refusal of truncated or edited files, naming the file."""
from __future__ import annotations

import json

import pytest
import torch

from trainlab.errors import CheckpointError
from trainlab.train.checkpoint import load_checkpoint, optimizer_from_parts, optimizer_to_parts, save_checkpoint


@pytest.fixture
def saved(tmp_path):
    tensors = {"model.w": torch.arange(6.0).reshape(2, 3), "rng.torch": torch.get_rng_state()}
    path = save_checkpoint(tmp_path / "epoch-0003", tensors, {"epoch": 3, "history": [{"loss": 0.5}]})
    return path, tensors


def test_round_trip(saved):
    path, tensors = saved
    loaded, state = load_checkpoint(path)
    assert state == {"epoch": 3, "history": [{"loss": 0.5}]}
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())
    assert not list(path.parent.glob(".*tmp")), "temporary files left behind"


def test_truncated_tensor_file_is_refused(saved):
    path, _ = saved
    tensor_file = path.with_suffix(".safetensors")
    tensor_file.write_bytes(tensor_file.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match=r"epoch-0003\.safetensors is truncated or modified"):
        load_checkpoint(path)


def test_edited_json_is_refused(saved):
    path, _ = saved
    record = json.loads(path.read_text())
    record["state"]["epoch"] = 4
    path.write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match=r"epoch-0003\.json was modified"):
        load_checkpoint(path)


def test_truncated_json_is_refused(saved):
    path, _ = saved
    path.write_text(path.read_text()[:40])
    with pytest.raises(CheckpointError, match=r"epoch-0003\.json is truncated"):
        load_checkpoint(path)


def test_missing_half_is_refused(saved):
    path, _ = saved
    path.with_suffix(".safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"epoch-0003\.safetensors is missing"):
        load_checkpoint(path)


def test_optimizer_state_survives_the_split():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    tensors, rest = optimizer_to_parts(optimizer)
    json.dumps(rest)  # the non-tensor part must be JSON, never pickle
    fresh = torch.optim.Adam(model.parameters(), lr=0.5)
    fresh.load_state_dict(optimizer_from_parts(tensors, json.loads(json.dumps(rest))))
    assert fresh.param_groups[0]["lr"] == 0.1
    for p in model.parameters():
        assert torch.equal(fresh.state[p]["exp_avg"], optimizer.state[p]["exp_avg"])
