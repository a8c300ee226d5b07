"""nn.DataParallel as a fallback for one process driving several GPUs.

DistributedDataParallel (``--nproc-per-node N``) is faster and is what einformer recommends: one
process per GPU, no per-step replication, no GIL contention. DataParallel still works because no
einformer module keeps parameters in a parameter list or dict container or reads ``self.parameters()``
inside ``forward`` (tests/test_project.py scans the source for both), which is what broke the old
Transformer-XL port under DataParallel.

Each replica returns its loss times its number of loss tokens, and that count; the gathered sums
give the token mean of the whole batch, the same loss (and gradient) as one device on the whole
batch, however unevenly the labels fall between the replicas.
"""

from __future__ import annotations

import types
import warnings

import torch
from torch import Tensor, nn

from .tokens import loss_token_count


class ReplicaLoss(nn.Module):
    """Runs on each replica: (loss x loss tokens, loss tokens) of its slice of the batch."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, **batch) -> tuple[Tensor, Tensor]:
        loss = self.model(**batch).loss
        n = loss.new_tensor(float(loss_token_count(self.model, batch)))
        return loss * n, n


def combine(loss_sums: Tensor, counts: Tensor) -> Tensor:
    """The token-mean loss from the replicas' (loss x tokens, tokens), scalars or gathered vectors."""
    return loss_sums.sum() / counts.sum().clamp(min=1.0)


class DataParallelModel(nn.Module):
    """``model`` under nn.DataParallel on ``device_ids``; ``forward(**batch)`` returns an object with ``.loss``."""

    def __init__(self, model: nn.Module, device_ids: list[int]) -> None:
        super().__init__()
        self.module = model
        self.parallel = nn.DataParallel(ReplicaLoss(model), device_ids=device_ids)

    def forward(self, **batch) -> types.SimpleNamespace:
        loss_sums, counts = self.parallel(**batch)
        return types.SimpleNamespace(loss=combine(loss_sums, counts))


def wrap_data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """DataParallel over every visible GPU, with a warning that recommends DDP; ``model`` unchanged otherwise."""
    n = torch.cuda.device_count() if device.type == "cuda" else 0
    if n < 2:
        warnings.warn(
            f"data_parallel needs 2 or more CUDA devices; found {n} for device {device}. Training on one device.",
            stacklevel=3,
        )
        return model
    warnings.warn(
        f"training with nn.DataParallel on {n} GPUs. DistributedDataParallel is faster and scales past one "
        f"machine: run the same command with --nproc-per-node {n} instead of --data-parallel.",
        stacklevel=3,
    )
    first = device.index or 0
    return DataParallelModel(model, device_ids=[first, *(i for i in range(n) if i != first)])
