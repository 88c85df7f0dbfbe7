"""Training throughput (slices/s) and forward FLOPs per slice: CPU default vs published U-Net.

Each configuration trains on random tensors with the package's own training step
(:func:`breastmri.training.loop.train_one_epoch` on one batch: Adam, Dice loss, gradient clipping, float32; on
CUDA also with AMP): warm-up steps, then the median of timed steps gives slices/s = batch / median step time.
Forward FLOPs per slice come from ``torch.utils.flop_counter.FlopCounterMode`` on one slice
(a multiply-add counts as 2 FLOPs).

    .venv/bin/python benchmarks/training_throughput.py                 # CPU, both configurations
    .venv/bin/python benchmarks/training_throughput.py --device cuda   # GPU: fp32 and AMP
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # before torch imports tqdm: the training loop's bar, once per step

import torch
from torch.utils.flop_counter import FlopCounterMode

from breastmri.model.unet import UNet, published_config
from breastmri.training.distributed import DistContext
from breastmri.training.losses import DiceLoss
from breastmri.training.loop import GRAD_SCALER_INIT_SCALE, train_one_epoch

CONFIGS = {
    # name: (model kwargs, slice size, batch size)
    "default": (dict(in_channels=1, base=8, depth=4, dropout=0.05, bottleneck_dropout=0.15), 128, 8),
    "published": (published_config(1), 512, 2),
}


def forward_flops_per_slice(model: torch.nn.Module, channels: int, size: int) -> int:
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, channels, size, size))
    return int(counter.get_total_flops())


class PackageStep:
    """One optimisation step of the package's training loop (Adam, Dice loss, clipping at 1.0), callable on an
    iterable of batches ``{"image", "mask"}``; CUDA work is synchronised so wall time measures it."""

    def __init__(self, model: torch.nn.Module, device: torch.device, amp: bool = False):
        self.model = model.to(device).train()
        self.ctx = DistContext(device=device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.scaler = torch.amp.GradScaler(device.type, init_scale=GRAD_SCALER_INIT_SCALE, enabled=amp)
        self.loss_fn, self.amp = DiceLoss(), amp

    def __call__(self, batches) -> float:
        """Train on ``batches``; return the wall time in seconds."""
        if self.ctx.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        train_one_epoch(self.model, batches, self.loss_fn, self.optimizer, self.scaler, self.ctx, amp=self.amp,
                        clip_grad_norm=1.0)
        if self.ctx.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0


def train_step_times(model, channels: int, size: int, batch: int, steps: int, warmup: int, device: torch.device,
                     amp: bool) -> list[float]:
    """Seconds per step of :class:`PackageStep` on one fixed random batch (after ``warmup`` steps)."""
    gen = torch.Generator().manual_seed(0)
    data = [{"image": torch.randn(batch, channels, size, size, generator=gen).to(device),
             "mask": (torch.rand(batch, 1, size, size, generator=gen) > 0.5).float().to(device)}]
    step = PackageStep(model, device, amp)
    return [step(data) for _ in range(warmup + steps)][warmup:]


def run(configs=tuple(CONFIGS), device: str = "cpu", steps: int = 10, published_steps: int = 3, warmup: int = 1,
        published_batch: int | None = None) -> dict:
    """Print and return ``{config[+amp]: size, batch, params, gflops, median_step_s, slices_per_s, steps}``."""
    device = torch.device(device)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    results = {}
    for name in configs:
        kwargs, size, batch = CONFIGS[name]
        if name == "published" and published_batch:
            batch = published_batch
        n_steps = published_steps if name == "published" else steps
        model = UNet(**kwargs)
        flops = forward_flops_per_slice(model, kwargs["in_channels"], size)
        params = sum(p.numel() for p in model.parameters())
        for amp in ([False, True] if device.type == "cuda" else [False]):
            times = train_step_times(UNet(**kwargs), kwargs["in_channels"], size, batch, n_steps, warmup, device,
                                     amp)
            median = statistics.median(times)
            key = f"{name}{'+amp' if amp else ''}"
            results[key] = dict(size=size, batch=batch, params=params, gflops=flops / 1e9,
                                median_step_s=median, slices_per_s=batch / median, steps=n_steps)
            print(f"{key:>16}: {kwargs['base']}-base depth {kwargs['depth']} at {size}x{size}, batch {batch}, "
                  f"{params / 1e6:.2f} M params | forward {flops / 1e9:.2f} GFLOPs/slice | "
                  f"median step {median:.3f} s over {n_steps} -> {batch / median:.2f} slices/s")
            sys.stdout.flush()
    if "default" in results and "published" in results:
        d, p = results["default"], results["published"]
        print(f"published / default: {p['gflops'] / d['gflops']:.0f}x forward FLOPs per slice, "
              f"{d['slices_per_s'] / p['slices_per_s']:.0f}x slower training per slice")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=10, help="timed steps, default configuration")
    parser.add_argument("--published-steps", type=int, default=3, help="timed steps, published configuration")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--published-batch", type=int, default=None, help="override the published batch size")
    args = parser.parse_args(argv)
    run(args.configs, args.device, args.steps, args.published_steps, args.warmup, args.published_batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
