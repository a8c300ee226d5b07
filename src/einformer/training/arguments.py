"""Everything a training run needs besides the model and the data, in one validated dataclass."""

from __future__ import annotations

import dataclasses

from ..config import check
from ..validation import check_training_numbers
from .schedules import SCHEDULES

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclasses.dataclass(frozen=True)
class TrainingArguments:
    """Optimiser, schedule, loop and bookkeeping settings.

    ``batch_size`` is per optimiser step before accumulation: each step runs
    ``gradient_accumulation_steps`` micro-batches of ``batch_size`` examples.
    """

    max_steps: int = 1000
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    weight_decay: float = 0.01  # not applied to norms, biases and embeddings
    betas: tuple[float, float] = (0.9, 0.98)  # the paper's Adam betas
    eps: float = 1e-9
    schedule: str = "inverse_sqrt"
    warmup_steps: int = 100
    max_grad_norm: float | None = 1.0  # 0 or None: no clipping
    precision: str = "fp32"  # bf16 autocast works on CPU; fp16 needs CUDA
    eval_every: int = 200
    save_every: int = 200
    log_every: int = 10
    patience: int | None = None  # evaluations without improvement before stopping early
    metric: str = "loss"  # the evaluation metric that picks the best checkpoint
    greater_is_better: bool = False
    seed: int = 0
    progress: bool = True
    data_parallel: bool = False  # nn.DataParallel over all GPUs of one process (prefer DDP: --nproc-per-node)

    def __post_init__(self) -> None:
        check(self.max_steps >= 1, "max_steps", f"must be >= 1, got {self.max_steps}")
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        check(self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps", "must be >= 1")
        check(self.learning_rate > 0, "learning_rate", f"must be > 0, got {self.learning_rate}")
        check(self.schedule in SCHEDULES, "schedule", f"{self.schedule!r} is not one of {SCHEDULES}")
        check(self.precision in PRECISIONS, "precision", f"{self.precision!r} is not one of {PRECISIONS}")
        if self.max_grad_norm == 0:
            object.__setattr__(self, "max_grad_norm", None)
        check(self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm", "must be > 0, or 0 / None (off)")
        for name in ("eval_every", "save_every", "log_every"):
            check(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}")
        check(self.patience is None or self.patience >= 1, "patience", "must be >= 1 or None")
        check_training_numbers(self)  # finite lr and weight decay, warmup >= 0, a seed torch can take
