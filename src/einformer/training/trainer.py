"""One trainer for every einformer model.

The loop: micro-batches -> loss -> backward (accumulated) -> clip -> AdamW step -> schedule step;
evaluation every ``eval_every`` steps keeps the best model; a full checkpoint every ``save_every``
steps allows an exact resume. A run directory holds:

    config.json, model.safetensors   the best model so far (the latest when nothing is evaluated)
    checkpoint-N/, last -> it        the latest model and training_state.pt (optimizer, scheduler,
                                     RNG states, step, best metric, training arguments): what
                                     --resume continues from, switched atomically (run_checkpoints.py)
    metrics.jsonl                    one JSON object per log line and per evaluation
    loss_curve.png                   training (and validation) loss against steps
    (tokenizers and anything the caller's ``save_extra`` writes)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..checkpoint import CheckpointError, atomic_write, load_state_strict, load_weights, save_tensors, write_json
from ..errors import EinformerError
from ..models.base import CONFIG_NAME, WEIGHTS_NAME, PreTrainedModel, save_generation_config
from ..version import __version__
from .arguments import TrainingArguments
from .data_parallel import wrap_data_parallel
from .distributed import DistInfo, all_reduce_sum, barrier, broadcast_flag
from .plots import plot_loss_curve, tensorboard_writer
from .progress import Progress
from .resume import check_resume_arguments
from .run_checkpoints import clean_partial, new_checkpoint_dir, pause, publish_checkpoint, published_step, writing
from .run_dir import LAST, METRICS, STATE_NAME, last_checkpoint
from .schedules import lr_multiplier
from .tokens import count_tokens, loss_token_count


class TrainingDiverged(EinformerError, RuntimeError):
    """The loss became NaN or infinite."""


@dataclasses.dataclass
class TrainResult:
    step: int
    best_metric: float | None
    best_step: int | None
    stopped_early: bool
    seconds: float
    history: list[dict]
    run_dir: Path


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay matrices of linear layers; never norms, biases or embeddings."""
    no_decay_ids = set()
    for module in model.modules():
        if isinstance(module, nn.LayerNorm | nn.Embedding):
            no_decay_ids.update(id(p) for p in module.parameters(recurse=False))
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if id(p) in no_decay_ids or p.dim() < 2 or name.endswith("bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class Trainer:
    """Train ``model`` on step-indexed ``batches`` (``batches.get(i) -> dict`` of model inputs).

    Batches may carry state from one step to the next (Transformer-XL's memory, ``StreamBatches``):
    such batches define ``carry_in(index, batch, state) -> batch`` (what the forward reads; the state
    is None at first) and ``carry_out(output) -> state``. The trainer holds the state and knows
    nothing of what it is.

    Args:
        model: a ``PreTrainedModel`` whose forward takes the batch's keys and returns ``.loss``.
        args: ``TrainingArguments``.
        batches: deterministic by index, so a resumed run sees the same data.
        run_dir: where checkpoints, metrics and plots go.
        evaluate: ``model -> {metric: value}``, run every ``args.eval_every`` steps.
        device: "cpu" or "cuda[:i]"; under DDP, the device of ``dist_info``.
        dist_info: from ``einformer.training.distributed.setup``; with a world size above 1 the
            model is wrapped in DistributedDataParallel, and ``batches`` must be this rank's shard.
        fsdp: shard parameters with FSDP2 (``fully_shard``) instead of replicating them.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        args: TrainingArguments,
        batches,
        *,
        run_dir: str | Path,
        evaluate: Callable[[PreTrainedModel], dict] | None = None,
        device: str | torch.device = "cpu",
        dist_info: DistInfo | None = None,
        fsdp: bool = False,
        evaluate_first: bool = False,
    ):
        self.dist = dist_info or DistInfo(device=torch.device(device))
        self.evaluate_first = evaluate_first  # also evaluate at step 0 (a pretrained model's starting point)
        if self.dist.enabled:
            device = self.dist.device
        if args.precision == "fp16" and torch.device(device).type != "cuda":
            raise ValueError("precision='fp16' needs a CUDA device; use 'bf16' on CPU")
        if fsdp and not self.dist.enabled:
            raise ValueError("fsdp needs a distributed run (torchrun or --nproc-per-node)")
        self.model, self.args, self.batches, self.evaluate = model, args, batches, evaluate
        # state carried between steps lives here, never on the model, and starts empty (also on resume)
        self.carries, self.carried = hasattr(batches, "carry_in"), None
        if self.carries and args.data_parallel:
            raise ValueError(
                "nn.DataParallel cannot carry state between steps (Transformer-XL's memory); use --nproc-per-node (DDP)"
            )
        self.run_dir, self.device, self.fsdp = Path(run_dir), torch.device(device), fsdp

    # ---------------------------------------------------------------- the loop
    def train(self, *, resume: bool = False) -> TrainResult:
        a, model = self.args, self.model.to(self.device)
        wrapped = self._wrap(model)
        optimizer = torch.optim.AdamW(
            parameter_groups(model, a.weight_decay), lr=a.learning_rate, betas=a.betas, eps=a.eps
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(a.schedule, a.warmup_steps, a.max_steps))
        scaler = torch.amp.GradScaler(self.device.type, enabled=a.precision == "fp16")
        state = {"step": 0, "best_metric": None, "best_step": None, "bad_evals": 0}
        if self.dist.is_main:
            clean_partial(self.run_dir)  # what a crashed write left behind
        if resume:
            state = self._load_checkpoint(optimizer, scheduler)
        else:
            if (self.run_dir / LAST / STATE_NAME).exists():
                raise ValueError(
                    f"{self.run_dir} already holds a run; pass --resume to continue it or choose another run directory"
                )
            torch.manual_seed(a.seed + self.dist.rank)  # per-rank dropout streams; rank 0 = the 1-process run
        main = self.dist.is_main
        barrier(self.dist)  # nobody writes before every rank has checked the directory
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        history = self._read_history(upto=state["step"]) if main else []
        writer = tensorboard_writer(self.run_dir) if main else None
        # a bar on a terminal, plain lines in a log; the expected time after a few measured steps
        bar = Progress(a.max_steps, initial=state["step"], enabled=a.progress and main)
        start, stopped_early, tokens, t_log = time.perf_counter(), False, 0, time.perf_counter()
        step = saved_step = state["step"]
        try:
            if self.evaluate_first and self.evaluate is not None and step == 0:
                stopped_early = self._eval_and_keep_best(model, 0, state, history, writer, bar)
            while step < a.max_steps and not stopped_early:
                loss, n_tokens = self._step(wrapped, optimizer, scaler, step)
                if not math.isfinite(loss):
                    kept = (
                        f"The last good checkpoint (step {saved_step}) is kept in {self.run_dir / LAST}; lower "
                        "--lr or enable gradient clipping, then --resume"
                        if (self.run_dir / LAST / STATE_NAME).is_file()
                        else "No checkpoint was saved before it; lower --lr or enable gradient clipping and start again"
                    )
                    raise TrainingDiverged(f"the loss became {loss} at step {step + 1}; training stopped. {kept}.")
                scheduler.step()
                step += 1
                tokens += n_tokens
                if main and (step % a.log_every == 0 or step == a.max_steps):
                    now = time.perf_counter()
                    record = {
                        "step": step,
                        "loss": loss,
                        "lr": scheduler.get_last_lr()[0],
                        "tokens_per_s": tokens / max(now - t_log, 1e-9),
                    }
                    tokens, t_log = 0, now
                    self._log(record, history, writer)
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{record['lr']:.2e}", tok_s=f"{record['tokens_per_s']:.0f}")
                bar.update(1)  # after the postfix, so a log line shows this step's loss
                if self.evaluate is not None and (step % a.eval_every == 0 or step == a.max_steps):
                    stopped_early = self._eval_and_keep_best(model, step, state, history, writer, bar)
                elif self.evaluate is None and (step % a.save_every == 0 or step == a.max_steps):
                    self._save_model(model, self.run_dir)
                state["step"] = step
                if step % a.save_every == 0 or step == a.max_steps or stopped_early:
                    self._save_checkpoint(model, optimizer, scheduler, state)
                    saved_step = step
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        if main and history:
            plot_loss_curve(history, self.run_dir / "loss_curve.png")
        barrier(self.dist)
        return TrainResult(
            step,
            state["best_metric"],
            state["best_step"],
            stopped_early,
            time.perf_counter() - start,
            history,
            self.run_dir,
        )

    def _step(self, model, optimizer, scaler, step: int) -> tuple[float, int]:
        """One optimiser step: ``backward`` over the step's micro-batches, clip, AdamW."""
        loss, tokens = self.backward(model, step, scaler)
        if self.args.max_grad_norm is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), self.args.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return loss, tokens

    def backward(self, model, step: int, scaler=None) -> tuple[float, int]:
        """Accumulate the gradient of step ``step``'s global batch into ``model``'s ``.grad``.

        Each micro-batch's mean loss is weighted by its share of the loss tokens over all the
        step's micro-batches and ranks, so the gradient is that of the token-mean loss of the whole
        global batch: the same on 1 process or N, with or without accumulation.
        Returns (that mean loss, tokens processed by all ranks).
        """
        micro = self.args.gradient_accumulation_steps
        scale = scaler.scale if scaler is not None else (lambda x: x)
        model.train()
        batches = [{k: v.to(self.device) for k, v in self.batches.get(step * micro + i).items()} for i in range(micro)]
        counts = [loss_token_count(self.model, b) for b in batches]
        local = torch.tensor([float(sum(counts)), float(sum(map(count_tokens, batches)))], device=self.device)
        totals = all_reduce_sum(local, self.dist)
        loss_tokens = totals[0].clamp(min=1.0)
        weighted = torch.zeros((), device=self.device)
        for i, (batch, n) in enumerate(zip(batches, counts, strict=True)):
            sync = i == micro - 1 or not self.dist.enabled or self.fsdp
            if self.carries:
                batch = self.batches.carry_in(step * micro + i, batch, self.carried)
            with contextlib.nullcontext() if sync else model.no_sync(), self._autocast():
                out = model(**batch)
            if self.carries:
                self.carried = self.batches.carry_out(out)
            loss = out.loss
            # DDP averages gradients over ranks: scale by world_size so the average is the token mean
            scale(loss * (n * self.dist.world_size / loss_tokens)).backward()
            weighted += loss.detach().float() * n
        return float(all_reduce_sum(weighted, self.dist) / loss_tokens), int(totals[1])

    def _wrap(self, model):
        """DistributedDataParallel, FSDP2, nn.DataParallel (fallback), or the model itself on one process."""
        if not self.dist.enabled:
            return wrap_data_parallel(model, self.device) if self.args.data_parallel else model
        if self.args.data_parallel:
            raise ValueError("data_parallel is for one process; under torchrun each rank already has its own GPU")
        if self.fsdp:
            from torch.distributed.fsdp import fully_shard

            for block in _repeated_blocks(model):
                fully_shard(block)
            fully_shard(model)
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def _autocast(self):
        if self.args.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.args.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    # ---------------------------------------------------------------- evaluation and bookkeeping
    def _eval_and_keep_best(self, model, step, state, history, writer, bar) -> bool:
        """Evaluate, save the model if it is the best so far; True (on every rank) when patience has run out."""
        a, main = self.args, self.dist.is_main
        stop = False
        metrics = None
        if main or self.fsdp:  # FSDP's sharded forward needs every rank
            with torch.no_grad(), self._autocast():
                metrics = self.evaluate(model)
        if main:
            if a.metric not in metrics:
                raise ValueError(f"evaluation returned {sorted(metrics)}, not the chosen metric {a.metric!r}")
            value, best = metrics[a.metric], state["best_metric"]
            improved = best is None or (value > best if a.greater_is_better else value < best)
            if improved:  # a tie keeps the first best (the step the log marks, as transformers' Trainer does)
                state.update(best_metric=value, best_step=step)
            state["bad_evals"] = 0 if improved else state["bad_evals"] + 1
            self._log({"step": step, "eval": metrics, "best": improved}, history, writer)
            bar.write(
                f"step {step}: "
                + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                + (" (best)" if improved else "")
            )
            stop = a.patience is not None and state["bad_evals"] >= a.patience
        save_best = broadcast_flag(main and state["best_step"] == step, self.dist)
        if save_best:
            self._save_model(model, self.run_dir)
        return broadcast_flag(stop, self.dist)

    def _save_model(self, model, directory: Path) -> None:
        """config.json + model.safetensors from rank 0 (FSDP gathers the full state on every rank first)."""
        if not self.fsdp:
            if self.dist.is_main:
                with writing(directory, "model"):
                    model.save_pretrained(directory)
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if self.dist.is_main:
            # tied weights come back as one gathered tensor under two names: store it once
            seen, tensors = set(), {}
            for key, tensor in state.items():
                ident = (tensor.data_ptr(), tensor.shape)
                if tensor.numel() and ident in seen:
                    continue
                seen.add(ident)
                tensors[key] = tensor
            save_tensors(tensors, directory / WEIGHTS_NAME)
            write_json(directory / CONFIG_NAME, {**model.config.to_dict(), "einformer_version": __version__})
            save_generation_config(model, directory)  # as save_pretrained writes it

    def _save_checkpoint(self, model, optimizer, scheduler, state) -> None:
        """The latest model and training state of this step, written by rank 0 with every rank's RNG
        state into a new checkpoint directory, then published as ``last`` in one atomic switch."""
        target = new_checkpoint_dir(self.run_dir, state["step"]) if self.dist.is_main else None
        rng = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        ranks = [rng]
        if self.dist.enabled:
            ranks = [None] * self.dist.world_size
            dist.all_gather_object(ranks, rng)
        self._save_model(model, target)
        if self.dist.is_main:
            pause("checkpoint", state["step"])  # between the weights and the state: the window a kill must not hurt
            payload = {
                **state,
                "scheduler": scheduler.state_dict(),
                "rng": ranks[0],
                "rng_per_rank": ranks,
                "world_size": self.dist.world_size,
                "arguments": dataclasses.asdict(self.args),
            }
            if not self.fsdp:  # FSDP optimizer state is sharded; resuming an FSDP run is not supported yet
                payload["optimizer"] = optimizer.state_dict()
            with writing(target / STATE_NAME, "training state"), atomic_write(target / STATE_NAME) as f:
                torch.save(payload, f)
            publish_checkpoint(self.run_dir, state["step"])
        barrier(self.dist)

    def _load_checkpoint(self, optimizer, scheduler) -> dict:
        last = last_checkpoint(self.run_dir) or self.run_dir / LAST  # refused when it leads out of the run
        if not (last / STATE_NAME).is_file():
            raise FileNotFoundError(f"nothing to resume: {last / STATE_NAME} does not exist")
        if self.fsdp:
            raise ValueError("resuming an FSDP run is not supported yet; resume it without --fsdp (DDP or 1 process)")
        load_state_strict(self.model, load_weights(last / WEIGHTS_NAME, self.device), source=str(last))
        try:
            with warnings.catch_warnings():  # torch's remarks on a foreign pickle are not the user's business
                warnings.simplefilter("ignore")
                payload = torch.load(last / STATE_NAME, map_location="cpu", weights_only=True)
        except Exception as e:  # weights_only refuses code; a damaged file fails to unpickle
            raise CheckpointError(
                f"cannot read {last / STATE_NAME}: it is damaged or not einformer's ({type(e).__name__}); it was "
                "not executed. Resume from an intact checkpoint, or start the run again"
            ) from None
        step = published_step(self.run_dir)
        if step is not None and payload.get("step") != step:
            raise CheckpointError(
                f"{last} is the checkpoint of step {step}, but its training state is of step {payload.get('step')}; "
                "refusing to resume from a mix of two steps"
            )
        self._check_resume_arguments(payload.pop("arguments", None))
        if "optimizer" not in payload:
            raise ValueError(f"{last / STATE_NAME} has no optimizer state (an FSDP run); it cannot be resumed")
        optimizer.load_state_dict(payload.pop("optimizer"))
        scheduler.load_state_dict(payload.pop("scheduler"))
        per_rank, saved_world = payload.pop("rng_per_rank", None), payload.pop("world_size", 1)
        rng = payload.pop("rng")
        if per_rank is not None and saved_world == self.dist.world_size:
            rng = per_rank[self.dist.rank]  # the same world size: every rank continues its own stream
        elif self.dist.rank:
            torch.manual_seed(self.args.seed + self.dist.rank + payload["step"])  # another world size: fresh streams
            return payload
        torch.set_rng_state(rng["torch"].cpu())
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
        return payload

    def _check_resume_arguments(self, saved: dict | None) -> None:
        changed = check_resume_arguments(saved, self.args)
        if changed and self.dist.is_main:
            print("resuming with " + ", ".join(changed), file=sys.stderr)

    def _read_history(self, upto: int) -> list[dict]:
        """Metrics already logged up to step ``upto`` (later lines belong to an interrupted run)."""
        path = self.run_dir / METRICS
        if not path.exists():
            return []
        history = []
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            try:
                history.append(json.loads(line))
            except json.JSONDecodeError:  # a line torn by a kill mid-write: it is after the checkpoint
                if line.strip():
                    print(f"{path}:{number}: a torn line (an interrupted write), dropped", file=sys.stderr)
        foreign = [h for h in history if not (isinstance(h, dict) and isinstance(h.get("step"), int))]
        if foreign:  # not einformer's lines (each of its records has an integer step): kept out of the log
            print(
                f"{path}: {len(foreign)} line(s) without an integer 'step' (not einformer's), dropped", file=sys.stderr
            )
        history = [h for h in history if isinstance(h, dict) and isinstance(h.get("step"), int) and h["step"] <= upto]
        with atomic_write(path, "w") as f:
            f.writelines(json.dumps(h) + "\n" for h in history)
        return history

    def _log(self, record: dict, history: list, writer) -> None:
        history.append(record)
        with open(self.run_dir / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if writer is not None:
            for key, value in {**record, **{f"eval/{k}": v for k, v in record.get("eval", {}).items()}}.items():
                if isinstance(value, int | float) and key != "step":
                    writer.add_scalar(key, value, record["step"])


def _repeated_blocks(model: nn.Module) -> list[nn.Module]:
    """The members of the model's ModuleLists (its layers): FSDP2's units of sharding."""
    return [m for lst in model.modules() if isinstance(lst, nn.ModuleList) for m in lst]
