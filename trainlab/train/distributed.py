"""Data-parallel training on torch.distributed: ``trainlab run RECIPE --nproc N`` or under ``torchrun``.

Every process builds the same run (same seed: same split, same initial weights), trains its shard
of every batch (:class:`trainlab.data.shards.ShardedBatches`) through
:class:`~torch.nn.parallel.DistributedDataParallel`, which averages the gradients over the
processes in backward, so each step is the step one process would take on the whole batch:

    g = (1/W) Σ_r ∇L_r,  L_r the mean loss of process r's shard (W processes, equal shards),

and the epoch's loss and metric sums are added up over the processes before they are logged. The
backend is ``nccl`` on CUDA and ``gloo`` otherwise. Process 0 alone writes the run directory.
torch's elastic launcher (what ``torchrun`` runs) starts the processes.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from trainlab.errors import TrainlabError


def world_size() -> int:
    """Processes in this run: WORLD_SIZE as torchrun sets it, 1 when not launched by it."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0")) if world_size() > 1 else 0


def is_main_process() -> bool:
    """Whether this process writes files and prints: rank 0, or the only process."""
    return rank() == 0


def join(device: torch.device) -> torch.device:
    """Under torchrun (WORLD_SIZE > 1): join the process group once (nccl on CUDA, gloo otherwise) and
    return this process's device (``cuda:LOCAL_RANK`` on GPUs); otherwise ``device`` unchanged."""
    if world_size() == 1:
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise TrainlabError(f"--nproc: process {local_rank} needs GPU {local_rank}, but this machine has "
                                f"{torch.cuda.device_count()}; start at most that many processes, or use device: cpu")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif "OMP_NUM_THREADS" not in os.environ:  # as torchrun does: the cores shared, not oversubscribed
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world_size()))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` wrapped for the training forward pass; its gradients are averaged in backward."""
    return nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over the processes (in place; returned)."""
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(nproc: int, entrypoint: Callable[..., Any], *args: Any) -> None:
    """Run ``entrypoint(*args)`` in ``nproc`` local processes with torch's elastic launcher (torchrun's
    engine): each gets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. A process that
    fails ends the others; the error names it (its own message is printed above)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1:
        raise TrainlabError(f"--nproc: {nproc} is not valid; accepted: a number of processes >= 1")
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"trainlab-{os.getpid()}",
                          rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{_free_port()}", max_restarts=0,
                          monitor_interval=0.1)
    try:
        elastic_launch(config, entrypoint)(*args)
    except ChildFailedError as e:
        failed_rank, failure = e.get_first_failure()
        raise TrainlabError(f"--nproc {nproc}: process {failed_rank} failed (exit code {failure.exitcode}); "
                            "its error is printed above") from None

