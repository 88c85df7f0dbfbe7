"""Whole-breast inference speed: seconds per volume, our slice predictor vs MONAI's ``SliceInferer``.

Both paths use the same model (the CPU default U-Net: base 8, depth 4, 128 x 128 slices, random weights:
speed does not depend on them) and the same preprocessing and inverse mapping
(:func:`breastmri.slices.breast.prepare_volume`, per-slice ``undo_resize_pad``); only the slice-by-slice
network evaluation differs:

* ours: :meth:`breastmri.inference.predictor.SlicePredictor.predict_breast` (batches of slices);
* MONAI: the prepared slices as one ``(1, 1, S, S, D)`` tensor through
  ``monai.inferers.SliceInferer(roi_size=(S, S), sw_batch_size=batch, spatial_dim=2)``.

A third path is ours with left-right mirror test-time augmentation (``mirror_tta=True``: every slice is
evaluated twice and the probabilities averaged), to state what TTA costs against ours without it.

Each is run ``--repeats`` times after one warm-up, interleaved (so machine load hits all alike); the median
seconds per volume and the ratios (MONAI / ours, > 1 = ours faster; TTA / ours) are printed, from the same run,
with the largest difference between our and MONAI's probability volumes (0: same predictions).

    .venv/bin/python benchmarks/inference_speed.py [--shape 192 160 64] [--repeats 5] [--device cpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from monai.inferers import SliceInferer

from breastmri.data.io import write_json
from breastmri.inference.predictor import Preprocessing, SlicePredictor, restore_slices
from breastmri.model.unet import UNet
from breastmri.slices.breast import prepare_volume
from breastmri.slices.geometry import undo_resize_pad


def synthetic_volume(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w, d = shape
    vol = rng.normal(50, 10, shape).astype(np.float32)
    vol[h // 2:, w // 8: 7 * w // 8] += 100  # a bright "breast" block in the lower half
    return vol


def monai_predict(model, volume, prep: Preprocessing, batch_size: int, device) -> np.ndarray:
    images, geometry = prepare_volume(volume, prep.size, prep.low_pct, prep.high_pct)
    x = torch.from_numpy(images).permute(1, 2, 3, 0).unsqueeze(0).to(device)  # (1, 1, S, S, D)
    inferer = SliceInferer(roi_size=(prep.size, prep.size), sw_batch_size=batch_size, spatial_dim=2,
                           progress=False)
    with torch.inference_mode():
        logits = inferer(x, model)
    probs = torch.sigmoid(logits.float())[0, 0].permute(2, 0, 1).cpu().numpy()  # (D, S, S)
    return restore_slices(probs, geometry, undo_resize_pad)


def _clock(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def interleaved(fns: dict, repeats: int, device) -> tuple[dict, dict]:
    """One warm-up each, then ``repeats`` rounds running every function once per round (alternating the
    order), so load from other processes hits all of them alike. Returns (times, last outputs)."""
    outputs = {name: fn() for name, fn in fns.items()}
    times = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            t, outputs[name] = _clock(fns[name], device)
            times[name].append(t)
    return times, outputs


def run(shape=(192, 160, 64), size: int = 128, base: int = 8, batch_size: int = 16, repeats: int = 5,
        device: str = "cpu") -> dict:
    """Median seconds per volume of the three paths (same run, interleaved) and the largest difference between
    ours and MONAI's."""
    torch.manual_seed(0)
    device = torch.device(device)
    model = UNet(in_channels=1, base=base, depth=4).eval().to(device)
    prep = Preprocessing("breast", size=size)
    predictor = SlicePredictor(model, prep, device=device, batch_size=batch_size)
    mirrored = SlicePredictor(model, prep, device=device, batch_size=batch_size, mirror_tta=True)
    volume = synthetic_volume(tuple(shape))

    times, outs = interleaved({"ours": lambda: predictor.predict_breast(volume),
                               "monai": lambda: monai_predict(model, volume, prep, batch_size, device),
                               "mirror_tta": lambda: mirrored.predict_breast(volume)},
                              repeats, device)
    ours_t, monai_t, ours, theirs = times["ours"], times["monai"], outs["ours"], outs["monai"]
    tta_t = times["mirror_tta"]
    return {
        "device": str(device), "threads": torch.get_num_threads(), "shape": list(shape),
        "size": size, "base": base, "batch_size": batch_size, "repeats": repeats,
        "ours_s_per_volume": round(statistics.median(ours_t), 4),
        "monai_slice_inferer_s_per_volume": round(statistics.median(monai_t), 4),
        "ratio_monai_over_ours": round(statistics.median(monai_t) / statistics.median(ours_t), 3),
        "mirror_tta_s_per_volume": round(statistics.median(tta_t), 4),
        "ratio_mirror_tta_over_ours": round(statistics.median(tta_t) / statistics.median(ours_t), 3),
        "max_abs_prob_difference": float(np.abs(ours - theirs).max()),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(192, 160, 64))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--base", type=int, default=8)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = run(args.shape, args.size, args.base, args.batch_size, args.repeats, args.device)
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
