"""Augmentation cost: MONAI vs TorchIO for the same chain, and training throughput with and without it.

1. Library comparison. The chain of ``breastmri.training.augment`` (mirror, rotation + zoom, elastic, bias field,
   gamma, noise, blur, lower resolution), every transform applied to every slice (probability 1, so both
   libraries do the same work), on 128x128 slices with 1 channel (whole breast) and 6 (lesion phases).
   MONAI runs on (C, H, W) tensors, TorchIO on (C, H, W, 1) subjects. Median ms per slice over repeats.
2. Training throughput. The default breast U-Net (batch 8) trained from an in-memory split through the
   DataLoader, without augmentation, and with the default augmentation settings in the main process
   (``num_workers`` 0) and in one DataLoader worker, with the package's own training step: median epoch time ->
   slices/s.

    .venv/bin/python benchmarks/augmentation.py   # part 1 needs torchio (pip install ".[bench]", make bench)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # before torch imports tqdm: the training loop's bar, once per epoch

import torch
from torch.utils.data import DataLoader

from training_throughput import PackageStep

from breastmri.model.unet import UNet
from breastmri.training.augment import DEFAULTS, augmented, parse_settings

SIZE = 128


class _Slices:
    """``n`` random slices with a block mask, shaped like the HDF5 items."""

    def __init__(self, n: int, channels: int):
        gen = torch.Generator().manual_seed(0)
        self.images = torch.randn(n, channels, SIZE, SIZE, generator=gen)
        self.masks = torch.zeros(n, 1, SIZE, SIZE)
        self.masks[:, :, 30:90, 20:100] = 1

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "mask": self.masks[i], "index": i}


def _all_on() -> dict:
    return parse_settings({name: {"prob": 1.0} for name in DEFAULTS})


def _torchio_chain(s: dict):
    import torchio as tio

    return tio.Compose([
        tio.RandomFlip(axes=(1,), flip_probability=1.0),
        tio.RandomAffine(scales=(1 - s["affine"]["scale"], 1 + s["affine"]["scale"], 1 - s["affine"]["scale"],
                                 1 + s["affine"]["scale"], 1, 1),
                         degrees=(0, 0, 0, 0, -s["affine"]["rotate_deg"], s["affine"]["rotate_deg"])),
        tio.RandomElasticDeformation(num_control_points=(SIZE // s["elastic"]["spacing"],) * 2 + (5,),
                                     max_displacement=(s["elastic"]["magnitude"][1],) * 2 + (0,)),
        tio.RandomBiasField(coefficients=s["bias_field"]["coeff"], order=3),
        tio.RandomGamma(log_gamma=tuple(math.log(g) for g in s["gamma"]["range"])),
        tio.RandomNoise(std=(0, s["noise"]["std"])),
        tio.RandomBlur(std=tuple(s["blur"]["sigma"]) + tuple(s["blur"]["sigma"]) + (0, 0)),
        tio.RandomAnisotropy(axes=(0, 1), downsampling=(1 / s["low_resolution"]["zoom"][1],
                                                        1 / s["low_resolution"]["zoom"][0])),
    ])


def _median_ms(fn, items: list, repeats: int) -> float:
    fn(items[0])  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        times.append((time.perf_counter() - t0) / len(items))
    return 1000 * statistics.median(times)


def library_comparison(channels=(1, 6), n: int = 32, repeats: int = 5) -> list[dict]:
    settings = _all_on()
    rows = []
    for c in channels:
        data = _Slices(n, c)
        items = [data[i] for i in range(n)]
        wrapped = augmented(data, settings, seed=0)
        row = {"channels": c, "monai_ms_per_slice": _median_ms(lambda it: wrapped[it["index"]], items, repeats)}
        try:
            import torchio as tio
        except ImportError:
            row["torchio_ms_per_slice"] = math.nan
        else:
            chain = _torchio_chain(settings)

            def torchio_item(it):
                subject = tio.Subject(image=tio.ScalarImage(tensor=it["image"][..., None]),
                                      mask=tio.LabelMap(tensor=it["mask"][..., None]))
                out = chain(subject)
                return out["image"].data[..., 0], out["mask"].data[..., 0]

            row["torchio_ms_per_slice"] = _median_ms(torchio_item, items, repeats)
        rows.append(row)
    return rows


def training_throughput(steps: int = 20, warmup: int = 2, batch: int = 8, workers=(0, 1), repeats: int = 3) -> dict:
    """slices/s of the default breast U-Net without augmentation (main process) and with the default
    augmentation, in the main process (``num_workers`` 0) and in DataLoader workers: the package's training step
    (:class:`training_throughput.PackageStep`) over a DataLoader of ``steps`` batches, median of ``repeats`` epochs
    after a warm-up epoch of ``warmup`` batches."""
    out = {}
    runs = [("plain", 0)] + [("augmented", w) for w in workers]
    for label, num_workers in runs:
        settings = parse_settings({name: {"prob": 0.0} for name in DEFAULTS}) if label == "plain" \
            else parse_settings(None)
        torch.manual_seed(0)
        dataset = augmented(_Slices(batch * steps, 1), settings, seed=0)
        loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=num_workers,
                            generator=torch.Generator().manual_seed(0))
        warm = DataLoader(augmented(_Slices(batch * warmup, 1), settings, seed=1), batch_size=batch)
        step = PackageStep(UNet(in_channels=1, out_channels=1, base=8, depth=4, dropout=0.05,
                                bottleneck_dropout=0.15), torch.device("cpu"))
        step(warm)
        seconds = statistics.median(step(loader) for _ in range(repeats))
        out[label if label == "plain" else f"augmented_workers_{num_workers}"] = batch * steps / seconds
    return {"slices_per_s": out, "batch": batch}


def run(channels=(1, 6), n: int = 32, repeats: int = 5, steps: int = 20) -> dict:
    return {"library": library_comparison(channels, n, repeats), "training": training_throughput(steps),
            "torch_threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    print(json.dumps(run(n=args.slices, repeats=args.repeats, steps=args.steps), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
