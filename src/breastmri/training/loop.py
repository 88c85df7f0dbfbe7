"""Training and validation epochs, and the fit loop with best-model tracking and exact resume.

Reproducibility: every epoch starts by seeding the global generator from ``(seed, epoch, rank)``
and the training sampler shuffles with ``seed + epoch`` (``DistributedSampler``, also with one
process), so an epoch's randomness does not depend on what ran before it; with
``torch.use_deterministic_algorithms(True)`` on CPU, a run resumed from ``last.pt`` ends with the same
weights as an uninterrupted one. Mixed precision (autocast float16 + ``GradScaler`` with a reduced
initial scale) is used on CUDA only; CPU training is float32.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import math
import os
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from breastmri.training.checkpoint import rng_state, save_checkpoint, set_rng_state
from breastmri.training.distributed import (DistContext, all_reduce_sum, barrier, broadcast_buffers,
                                            shard_indices, unwrap, wrap_model)
from breastmri.training.early_stopping import EarlyStopping
from breastmri.training.losses import loss_statistics
from breastmri.training.metrics import DiceAccumulator

GRAD_SCALER_INIT_SCALE = 2.0**10  # default 2**16 overflows the first steps of a fresh U-Net


@dataclass
class FitConfig:
    """Optimisation settings of one training run (all plain values, stored in checkpoints). No field has a
    default: :func:`breastmri.training.train.run_training` fills every one from the task's ``params.yaml``
    section (``positive_only`` from the task)."""

    max_epochs: int
    patience: int
    min_delta: float
    optimizer: str                   # "adam" | "adamw"
    lr: float
    weight_decay: float
    lr_factor: float                 # ReduceLROnPlateau on validation loss
    lr_patience: int
    min_lr: float
    clip_grad_norm: float            # 0 disables clipping
    amp: bool                        # honoured on CUDA only
    seed: int
    positive_only: bool              # per-patient Dice only over patients with target voxels
    threshold: float                 # for the Dice figures logged during training


@dataclass
class FitResult:
    model: nn.Module                 # holds the best epoch's weights
    last_state: dict                 # weights after the last epoch run (CPU copies)
    history: list[dict]
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    extra: dict = field(default_factory=dict)


def set_deterministic(device: torch.device) -> None:
    """Deterministic kernels (strict on CPU; on CUDA warn-only, cuDNN autotuning off)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True)
        # Deterministic mode also fills every new tensor with NaN, a check for kernels that read memory they did
        # not write: an eighth of a lesion training epoch on 2 cores, for memory every kernel here overwrites.
        torch.utils.deterministic.fill_uninitialized_memory = False


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` inside the block, restored after it.

    A training's weights depend on its thread count: oneDNN splits a convolution's backward pass among the threads
    and sums their shares in an order that follows the split, so the same run on 1 and 2 threads differs in the last
    bits of its gradients (measured on this package's U-Net). A fixed count (``train_<task>.threads``) gives the
    same weights on any machine of the same CPU type, whatever its number of cores."""
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed blocks of up to 32 MB for reuse; False where the C library is not glibc.

    Every training step allocates and frees the same activation tensors (a few MB each at 128 x 128, batch 8).
    By default glibc maps such blocks afresh (and returns its heap's free top to the system), so each step pays
    the page faults of memory it has just freed: a fifth of a CPU training step on 2 cores, measured. PyTorch's
    CPU performance guide suggests a caching allocator (jemalloc, TCMalloc) for this; mallopt gives the same
    reuse with the C library already loaded. Only where memory comes from changes, not any arithmetic."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 512 << 20))


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + int(rank)) % (2**63 - 1)


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def make_train_loader(dataset: Dataset, batch_size: int, seed: int, ctx: DistContext,
                      num_workers: int = 0) -> DataLoader:
    """Shuffled loader; ``loader.sampler.set_epoch(e)`` gives epoch ``e`` its own fixed order.

    Workers are started afresh each epoch (not persistent) so that a dataset's ``set_epoch`` (augmentation
    seeds) reaches them."""
    sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                 seed=int(seed), drop_last=False)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      worker_init_fn=_worker_init, generator=torch.Generator().manual_seed(int(seed)),
                      pin_memory=ctx.device.type == "cuda")


def make_eval_loader(dataset: Dataset, batch_size: int, ctx: DistContext, num_workers: int = 0) -> DataLoader:
    """In-order loader over this rank's strided share of ``dataset`` (no padding duplicates)."""
    if ctx.enabled:
        dataset = Subset(dataset, shard_indices(len(dataset), ctx))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      worker_init_fn=_worker_init, generator=torch.Generator().manual_seed(0),
                      pin_memory=ctx.device.type == "cuda", persistent_workers=num_workers > 0)


OPTIMIZERS = ("adam", "adamw")


def make_optimizer(name: str, parameters, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose {' or '.join(OPTIMIZERS)}")


def _progress(iterable, desc: str, ctx: DistContext):
    # pass `disable` only to silence other ranks, so TQDM_DISABLE keeps working on rank 0
    kwargs = {} if ctx.is_main else {"disable": True}
    return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True, **kwargs)


def _autocast(device: torch.device, amp: bool):
    return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp and device.type == "cuda")


def train_one_epoch(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler, ctx: DistContext, amp: bool = False,
                    clip_grad_norm: float = 0.0, desc: str = "train", threshold: float = 0.5) -> dict:
    """One pass over ``loader``; returns the mean loss and the voxel Dice (all ranks summed)."""
    model.train()
    sums = torch.zeros(5, dtype=torch.float64)  # loss * n, n, intersection, predicted, target
    bar = _progress(loader, desc, ctx)
    for batch in bar:
        x = batch["image"].to(ctx.device, non_blocking=True)
        y = batch["mask"].to(ctx.device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(ctx.device, amp):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        scaler.scale(loss).backward()
        if clip_grad_norm > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        with torch.no_grad():
            loss_value = loss.item()
            pred = torch.sigmoid(logits.detach().float()) > threshold
            target = y > 0.5
            n = x.shape[0]
            sums += torch.tensor([loss_value * n, n, (pred & target).sum().item(), pred.sum().item(),
                                  target.sum().item()], dtype=torch.float64)
        bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
    all_reduce_sum(sums)
    loss_sum, n, inter, psum, tsum = sums.tolist()
    return {"loss": loss_sum / max(n, 1.0), "dice": 1.0 if psum + tsum == 0 else 2 * inter / (psum + tsum)}


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, ctx: DistContext,
             accumulator: DiceAccumulator, amp: bool = False, desc: str = "validate",
             threshold: float = 0.5) -> dict:
    """Loss over the whole of ``loader`` (all ranks) and mean per-slice Dice; per-patient counts go to
    ``accumulator``.

    The loss is ``loss_fn`` applied to the whole set (``loss_fn.from_statistics`` of summed
    :func:`~breastmri.training.losses.loss_statistics`), independent of batching and sharding.
    ``model`` must be the unwrapped module (DDP forward would synchronise ranks with uneven shards).
    """
    model.eval()
    stats = torch.zeros(5, dtype=torch.float64)
    sums = torch.zeros(2, dtype=torch.float64)  # n, sum of per-slice Dice
    for batch in _progress(loader, desc, ctx):
        x = batch["image"].to(ctx.device, non_blocking=True)
        y = batch["mask"].to(ctx.device, non_blocking=True)
        with _autocast(ctx.device, amp):
            logits = model(x).float()
        stats += loss_statistics(logits, y)
        probs = torch.sigmoid(logits)
        accumulator.update(probs, y, batch["index"])
        pred, target = (probs > threshold).flatten(1), (y > 0.5).flatten(1)
        total = pred.sum(1) + target.sum(1)
        slice_dice = torch.where(total > 0, 2 * (pred & target).sum(1) / total.clamp(min=1), 1.0)
        sums += torch.tensor([x.shape[0], float(slice_dice.sum())], dtype=torch.float64)
    all_reduce_sum(stats)
    all_reduce_sum(sums)
    accumulator.all_reduce()
    n, dice_sum = sums.tolist()
    return {"loss": float(loss_fn.from_statistics(stats)), "dice_slice_mean": dice_sum / max(n, 1.0)}


def validation_summary(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, ctx: DistContext,
                       patient_ids, cfg: FitConfig, desc: str = "validate") -> dict:
    """Validation loss, per-slice Dice and per-patient 3D Dice at ``cfg.threshold``."""
    acc = DiceAccumulator(patient_ids, (cfg.threshold,))
    out = evaluate(unwrap(model), loader, loss_fn, ctx, acc, amp=cfg.amp, desc=desc, threshold=cfg.threshold)
    per_patient = acc.patient_dice(cfg.threshold, positive_only=cfg.positive_only)
    out["patient_dice"] = per_patient
    out["dice"] = float(np.mean(list(per_patient.values()))) if per_patient else math.nan
    return out


class Trainer:
    """Runs epochs until ``max_epochs`` or early stopping, keeping the best (lowest validation loss) model.

    Files (rank 0): ``best.pt`` (weights of the best epoch, a deep copy taken when it happened) and
    ``last.pt`` (everything needed to resume). ``validate_fn(model, epoch) -> {"loss": ..., ...}`` may
    replace the default validation (tests plant validation losses with it); ``on_epoch_end(row)`` is
    called after the checkpoint of each epoch is on disk (logging; tests interrupt runs with it).
    """

    def __init__(self, model: nn.Module, train_loader: DataLoader, val_loader: DataLoader | None,
                 loss_fn: nn.Module, cfg: FitConfig, ctx: DistContext, out_dir: str | Path, *,
                 task: str, model_config: dict, params: dict, val_patient_ids=None,
                 validate_fn: Callable[[nn.Module, int], dict] | None = None,
                 on_epoch_end: Callable[[dict], None] | None = None, desc: str = ""):
        self.cfg, self.ctx, self.out_dir = cfg, ctx, Path(out_dir)
        self.task, self.model_config, self.params = task, dict(model_config), dict(params)
        self.train_loader, self.val_loader, self.loss_fn = train_loader, val_loader, loss_fn
        self.val_patient_ids, self.validate_fn, self.on_epoch_end = val_patient_ids, validate_fn, on_epoch_end
        self.desc = desc or task
        self.model = wrap_model(model.to(ctx.device), ctx)
        self.optimizer = make_optimizer(cfg.optimizer, self.model.parameters(), cfg.lr, cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr)
        self.use_amp = bool(cfg.amp and ctx.device.type == "cuda")
        self.scaler = torch.amp.GradScaler(ctx.device.type, init_scale=GRAD_SCALER_INIT_SCALE,
                                           enabled=self.use_amp)
        self.early = EarlyStopping(cfg.patience, cfg.min_delta)
        self.epoch = 0
        self.history: list[dict] = []
        self.best_state = self._snapshot()
        self.finished = False
        self.stopped_early = False

    # -- state -----------------------------------------------------------------------------------
    def _snapshot(self) -> dict:
        return copy.deepcopy({k: v.detach().cpu() for k, v in unwrap(self.model).state_dict().items()})

    def _meta(self) -> dict:
        return {"task": self.task, "model_config": self.model_config, "params": self.params}

    def state_dict(self) -> dict:
        return {**self._meta(), "epoch": self.epoch,
                "model_state": unwrap(self.model).state_dict(),
                "optimizer_state": self.optimizer.state_dict(),
                "scheduler_state": self.scheduler.state_dict(),
                "scaler_state": self.scaler.state_dict(),
                "early_stopping": self.early.state_dict(),
                "best_val_loss": self.early.best, "best_epoch": self.early.best_epoch,
                "best_model_state": self.best_state,
                "history": copy.deepcopy(self.history),
                "finished": self.finished, "stopped_early": self.stopped_early,
                "rng": rng_state(), "fit_config": asdict(self.cfg)}

    def load_state_dict(self, state: dict) -> None:
        unwrap(self.model).load_state_dict(state["model_state"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        self.scheduler.load_state_dict(state["scheduler_state"])
        if state.get("scaler_state"):
            self.scaler.load_state_dict(state["scaler_state"])
        self.early.load_state_dict(state["early_stopping"])
        self.best_state = {k: v.clone() for k, v in state["best_model_state"].items()}
        self.history = [dict(row) for row in state["history"]]
        self.epoch = int(state["epoch"])
        self.finished, self.stopped_early = bool(state["finished"]), bool(state["stopped_early"])
        set_rng_state(state["rng"])

    def best_checkpoint(self) -> dict:
        """What ``best.pt`` holds: the best epoch's weights and enough to rebuild the model."""
        return {**self._meta(), "epoch": self.early.best_epoch, "model_state": self.best_state,
                "best_val_loss": self.early.best, "best_epoch": self.early.best_epoch}

    # -- epochs ----------------------------------------------------------------------------------
    def validate(self, epoch: int) -> dict:
        if self.validate_fn is not None:
            return dict(self.validate_fn(unwrap(self.model), epoch))
        desc = f"{self.desc} {epoch}/{self.cfg.max_epochs} val"
        out = validation_summary(self.model, self.val_loader, self.loss_fn, self.ctx, self.val_patient_ids,
                                 self.cfg, desc)
        out.pop("patient_dice")
        return out

    def run_epoch(self, epoch: int) -> dict:
        cfg, ctx = self.cfg, self.ctx
        torch.manual_seed(epoch_seed(cfg.seed, epoch, ctx.rank))
        sampler = self.train_loader.sampler
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        if hasattr(self.train_loader.dataset, "set_epoch"):  # augmentation seeded by (seed, epoch, item)
            self.train_loader.dataset.set_epoch(epoch)
        lr = float(self.optimizer.param_groups[0]["lr"])
        train = train_one_epoch(self.model, self.train_loader, self.loss_fn, self.optimizer, self.scaler, ctx,
                                amp=self.use_amp, clip_grad_norm=cfg.clip_grad_norm,
                                desc=f"{self.desc} {epoch}/{cfg.max_epochs} train", threshold=cfg.threshold)
        broadcast_buffers(self.model)
        val = self.validate(epoch)
        val_loss = float(val["loss"])
        self.scheduler.step(val_loss)
        improved = self.early.step(val_loss, epoch)
        if improved:
            self.best_state = self._snapshot()
        row = {"epoch": epoch, "lr": lr, "train_loss": float(train["loss"]), "train_dice": float(train["dice"]),
               "val_loss": val_loss, "val_dice": float(val.get("dice", math.nan)), "improved": improved}
        if "dice_slice_mean" in val:
            row["val_dice_slice_mean"] = float(val["dice_slice_mean"])
        return row

    def write_epoch(self, row: dict) -> None:
        """The log line of one finished epoch (a row of :attr:`history`), on stderr."""
        tqdm.write(f"{self.desc} epoch {row['epoch']}/{self.cfg.max_epochs}: train loss {row['train_loss']:.4f} "
                   f"dice {row['train_dice']:.4f} | val loss {row['val_loss']:.4f} dice {row['val_dice']:.4f}"
                   f" | lr {row['lr']:.2e}{' | best' if row['improved'] else ''}", file=sys.stderr)

    def fit(self) -> FitResult:
        cfg = self.cfg
        while not self.finished and self.epoch < cfg.max_epochs:
            epoch = self.epoch + 1
            row = self.run_epoch(epoch)
            self.epoch = epoch
            self.history.append(row)
            self.stopped_early = self.early.should_stop
            self.finished = self.stopped_early or epoch >= cfg.max_epochs
            if self.ctx.is_main:
                if row["improved"]:
                    save_checkpoint(self.best_checkpoint(), self.out_dir / "best.pt")
                save_checkpoint(self.state_dict(), self.out_dir / "last.pt")
            barrier()
            if self.ctx.is_main:
                self.write_epoch(row)
            if self.on_epoch_end is not None:
                self.on_epoch_end(dict(row))
        if self.ctx.is_main and not (self.out_dir / "best.pt").exists():
            save_checkpoint(self.best_checkpoint(), self.out_dir / "best.pt")
        barrier()
        last_state = self._snapshot()
        unwrap(self.model).load_state_dict(self.best_state)
        return FitResult(model=unwrap(self.model), last_state=last_state, history=list(self.history),
                         best_epoch=self.early.best_epoch, best_val_loss=self.early.best, epochs_run=self.epoch,
                         stopped_early=self.stopped_early)
