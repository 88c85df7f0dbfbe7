"""Training-time augmentation of 2D slices with MONAI dictionary transforms, seeded per slice.

Every probability and range comes from the task's ``train_<task>.augment`` mapping in params.yaml
(:data:`DEFAULTS` lists the keys; a probability of 0 leaves a transform out). The transforms are MONAI's
(``RandFlipd``, ``RandAffined``, ``Rand2DElasticd``, ``RandBiasFieldd``, ``RandAdjustContrastd``,
``RandGaussianNoised``, ``RandGaussianSmoothd``, ``RandSimulateLowResolutiond``); the choice of MONAI over
TorchIO is measured in ``benchmarks/augmentation.py``; :class:`RandBreastFieldOfViewd` (whole-breast task only)
is composed of MONAI's ``SpatialCrop``, ``Resize`` and ``SpatialPad``; :class:`RandLatePhasesAbsentd` (lesion
task) has no MONAI counterpart. Spatial transforms move image and mask together (the
mask with nearest-neighbour interpolation); intensity transforms touch the image only, and a phase channel
that is absent (all zero, as the lesion files store missing phases) stays zero.

Determinism: :class:`AugmentedSlices` reseeds the whole chain from ``(seed, epoch, item)`` before every item,
so a slice gets the same augmentation in an epoch whatever process (DataLoader worker) serves it, and a run
resumed at an epoch boundary reproduces the uninterrupted one.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from monai import transforms as mt
from monai.utils import MAX_SEED
from scipy import ndimage
from torch.utils.data import Dataset

from breastmri.data.errors import DataError

# name -> settings; "prob" is the chance per slice (0: off). Ranges are [low, high].
DEFAULTS: dict[str, dict] = {
    "flip_lr": {"prob": 0.5},                                       # mirror left-right (working axis 1)
    "affine": {"prob": 0.3, "rotate_deg": 10.0, "scale": 0.1},      # in-plane rotation +-deg, zoom 1 +- scale
    "elastic": {"prob": 0.0, "spacing": 16, "magnitude": [1.0, 2.0]},  # grid spacing (pixels), displacement
    "bias_field": {"prob": 0.3, "coeff": 0.3},                      # smooth multiplicative field, degree 3
    "gamma": {"prob": 0.3, "range": [0.7, 1.5]},                    # contrast (gamma on the rescaled image)
    "noise": {"prob": 0.2, "std": 0.1},                             # Gaussian, std drawn up to this
    "blur": {"prob": 0.2, "sigma": [0.5, 1.0]},                     # Gaussian smoothing (pixels)
    "low_resolution": {"prob": 0.2, "zoom": [0.5, 1.0]},            # down- then up-sampling
    # a breast-only field of view (sagittal and unilateral exams): one breast's box from the mask, widened by
    # margins (shares of the slice size) behind its base, before its tip and at its sides, fills the slice; a
    # negative side margin cuts into the breast (a sagittal slab narrower than the breast)
    "breast_fov": {"prob": 0.0, "posterior": [0.05, 0.25], "anterior": [0.0, 0.1], "sides": [0.0, 0.1]},
    # fewer DCE phases (lesion task; channels are phases in time order): the channels after the first k, k drawn
    # from min_phases to the channel count - 1, are set to zero, as the files store phases a case lacks
    "fewer_phases": {"prob": 0.0, "min_phases": 3},
}


def parse_settings(values: dict | None, source="train parameters") -> dict[str, dict]:
    """:data:`DEFAULTS` updated with ``values`` (``{name: {key: value}}``); ``False`` turns every transform off
    (the unaugmented baseline). Unknown names or keys, a probability outside [0, 1] or a range that is not
    ``[low, high]`` are errors naming them."""
    settings = copy.deepcopy(DEFAULTS)
    if values is None:
        return settings
    if values is False:
        for entry in settings.values():
            entry["prob"] = 0.0
        return settings
    if not isinstance(values, dict):
        raise DataError(source, f"augment must be a mapping of {', '.join(DEFAULTS)}, got {values!r}")
    for name, entry in values.items():
        if name not in DEFAULTS:
            raise DataError(source, f"unknown augmentation {name!r} (known: {', '.join(DEFAULTS)})")
        if not isinstance(entry, dict):
            raise DataError(source, f"augment.{name} must be a mapping, got {entry!r}")
        for key, value in entry.items():
            if key not in DEFAULTS[name]:
                raise DataError(source, f"unknown setting augment.{name}.{key} "
                                        f"(known: {', '.join(DEFAULTS[name])})")
            default = DEFAULTS[name][key]
            if isinstance(default, list):
                if not (isinstance(value, (list, tuple)) and len(value) == 2 and float(value[0]) <= float(value[1])):
                    raise DataError(source, f"augment.{name}.{key} must be [low, high], got {value!r}")
                value = [float(v) for v in value]
            else:
                value = type(default)(value)
            settings[name][key] = value
        if not 0.0 <= settings[name]["prob"] <= 1.0:
            raise DataError(source, f"augment.{name}.prob must lie in [0, 1], got {settings[name]['prob']}")
    return settings


def build_transform(settings: dict[str, dict]):
    """The MONAI ``Compose`` of the enabled transforms (keys ``image`` (C,H,W) and ``mask`` (1,H,W)), or None
    when every probability is 0.

    Turns MONAI's metadata tracking off for the process (``set_track_meta(False)``): the slices carry no
    metadata, and plain tensors make the chain about 1.7x faster (measured on 2 CPU cores)."""
    from monai.data import set_track_meta

    set_track_meta(False)

    s = settings
    both, image = ["image", "mask"], ["image"]
    chain = []
    if s["flip_lr"]["prob"] > 0:
        chain.append(mt.RandFlipd(both, prob=s["flip_lr"]["prob"], spatial_axis=1))
    if s["affine"]["prob"] > 0:
        chain.append(mt.RandAffined(both, prob=s["affine"]["prob"],
                                    rotate_range=math.radians(s["affine"]["rotate_deg"]),
                                    scale_range=(s["affine"]["scale"], s["affine"]["scale"]),
                                    mode=("bilinear", "nearest"), padding_mode="border"))
    if s["elastic"]["prob"] > 0:
        chain.append(mt.Rand2DElasticd(both, spacing=s["elastic"]["spacing"],
                                       magnitude_range=tuple(s["elastic"]["magnitude"]), prob=s["elastic"]["prob"],
                                       mode=("bilinear", "nearest"), padding_mode="border"))
    if s["breast_fov"]["prob"] > 0:
        chain.append(RandBreastFieldOfViewd(prob=s["breast_fov"]["prob"], posterior=s["breast_fov"]["posterior"],
                                            anterior=s["breast_fov"]["anterior"], sides=s["breast_fov"]["sides"]))
    if s["bias_field"]["prob"] > 0:
        chain.append(mt.RandBiasFieldd(image, degree=3, coeff_range=(0.0, s["bias_field"]["coeff"]),
                                       prob=s["bias_field"]["prob"]))
    if s["gamma"]["prob"] > 0:
        chain.append(mt.RandAdjustContrastd(image, prob=s["gamma"]["prob"], gamma=tuple(s["gamma"]["range"]),
                                            retain_stats=True))
    if s["noise"]["prob"] > 0:
        chain.append(mt.RandGaussianNoised(image, prob=s["noise"]["prob"], std=s["noise"]["std"]))
    if s["blur"]["prob"] > 0:
        sigma = tuple(s["blur"]["sigma"])
        chain.append(mt.RandGaussianSmoothd(image, sigma_x=sigma, sigma_y=sigma, prob=s["blur"]["prob"]))
    if s["low_resolution"]["prob"] > 0:
        chain.append(mt.RandSimulateLowResolutiond(image, prob=s["low_resolution"]["prob"],
                                                   zoom_range=tuple(s["low_resolution"]["zoom"]),
                                                   upsample_mode="bilinear"))
    if s["fewer_phases"]["prob"] > 0:  # last: no intensity transform makes the zeroed channels non-zero again
        chain.append(RandLatePhasesAbsentd(prob=s["fewer_phases"]["prob"], min_phases=s["fewer_phases"]["min_phases"]))
    return mt.Compose(chain) if chain else None


class RandBreastFieldOfViewd(mt.RandomizableTransform, mt.MapTransform):
    """A slice as a breast-only field of view shows it (whole-breast task; keys ``image`` (C,H,W) and ``mask``
    (1,H,W), rows posterior -> anterior, as the working frame): one breast, chosen at random among the mask's
    left-right column runs, is boxed by the mask's rows and columns, the box widened by shares of the slice size
    drawn from ``posterior`` (chest wall behind the breast's base), ``anterior`` and ``sides``, cropped
    (``SpatialCrop``), enlarged so its longer side fills the slice (``Resize``, aspect kept) and padded with the
    image's background (``SpatialPad``). A negative side margin narrows the box into the breast, as a sagittal
    slab narrower than the breast's base cuts it at its left-right edges (each side at most a quarter of the
    breast's width). A slice without breast is left as it is."""

    def __init__(self, prob: float, posterior, anterior, sides):
        mt.RandomizableTransform.__init__(self, prob)
        mt.MapTransform.__init__(self, ["image", "mask"])
        self.ranges = tuple(tuple(float(v) for v in r) for r in (posterior, anterior, sides, sides))

    def randomize(self, data=None) -> None:
        super().randomize(None)
        self.pick = self.R.random()
        self.margins = [self.R.uniform(*r) for r in self.ranges]

    def __call__(self, data: dict) -> dict:
        self.randomize()
        mask = np.asarray(data["mask"][0]) > 0
        if not self._do_transform or not mask.any():
            return data
        height, width = mask.shape
        runs, n = ndimage.label(mask.any(axis=0))
        cols = np.flatnonzero(runs == 1 + min(int(self.pick * n), n - 1))
        rows = np.flatnonzero(mask[:, cols].any(axis=1))
        back, front, left, right = (int(round(m * s)) for m, s in zip(self.margins, (height, height, width, width)))
        span = len(cols)  # a negative side margin cuts into the breast: at most a quarter of its width each side
        left, right = (max(m, -(span // 4)) for m in (left, right))
        crop = mt.SpatialCrop(roi_start=(max(0, rows[0] - back), max(0, cols[0] - left)),
                              roi_end=(min(height, rows[-1] + 1 + front), min(width, cols[-1] + 1 + right)))
        out = dict(data)
        for key, mode in (("image", "bilinear"), ("mask", "nearest")):
            x = mt.Resize(spatial_size=max(height, width), size_mode="longest", mode=mode)(crop(data[key]))
            pad = float(data[key].min()) if key == "image" else 0.0
            out[key] = mt.SpatialPad(spatial_size=(height, width), method="symmetric", value=pad)(x)
        return out


class RandLatePhasesAbsentd(mt.RandomizableTransform, mt.MapTransform):
    """An exam that acquired fewer DCE phases (MAMA-MIA holds 3 to 11): with ``prob``, the channels of ``image``
    (C,H,W; phases in time order) from a random ``k`` on are set to zero, ``k`` drawn uniformly from
    ``min_phases`` to C - 1; the first ``k`` are kept as they are. An image of at most ``min_phases`` channels
    is left as it is."""

    def __init__(self, prob: float, min_phases: int):
        mt.RandomizableTransform.__init__(self, prob)
        mt.MapTransform.__init__(self, ["image"])
        if min_phases < 1:
            raise DataError("train parameters", f"augment.fewer_phases.min_phases must be >= 1, got {min_phases}")
        self.min_phases = int(min_phases)

    def randomize(self, data=None) -> None:
        super().randomize(None)
        self.share = self.R.random()

    def __call__(self, data: dict) -> dict:
        self.randomize()
        channels = data["image"].shape[0]
        if not self._do_transform or channels <= self.min_phases:
            return data
        keep = self.min_phases + int(self.share * (channels - self.min_phases))  # min_phases .. channels - 1
        image = torch.as_tensor(data["image"]).clone()
        image[keep:] = 0.0
        return {**data, "image": image}


class Reseeder:
    """``compose.set_random_state(seed=s)`` without building a generator: the same streams, in place.

    MONAI's seeding builds a new ``np.random.RandomState`` for the ``Compose`` and for every randomizable object
    inside each of its transforms (a dictionary transform and the array transforms it wraps): 1.5 ms per item for
    the default chains, two thirds of their augmentation time (``RandomState(s)`` takes 114 us, reseeding one in
    place ``.seed(s)`` 1.4 us, with the same stream). MONAI hands each transform a seed drawn from the Compose's
    generator and seeds everything inside it with that one seed; this does the same to the generators it built
    once. ``tests/training/test_augment.py`` holds it to MONAI's own seeding, item by item."""

    def __init__(self, compose: mt.Compose):
        compose.set_random_state(seed=0)
        self.compose = compose
        self.generators = [_generators(t) for t in compose.transforms if isinstance(t, mt.Randomizable)]

    def __call__(self, seed: int) -> None:
        top = self.compose.R
        top.seed(int(seed) % MAX_SEED)
        for generators in self.generators:
            inner = int(top.randint(MAX_SEED, dtype="uint32"))
            for generator in generators:
                generator.seed(inner)


def _generators(transform) -> list[np.random.RandomState]:
    """The generators of ``transform`` and of every randomizable object among its attributes, recursively."""
    found, stack, seen = [], [transform], set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        found.append(obj.R)
        stack.extend(v for v in vars(obj).values() if isinstance(v, mt.Randomizable))
    return found


def item_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of one item in one epoch (independent streams per item)."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(index)]).generate_state(1)[0])


class AugmentedSlices(Dataset):
    """``dataset``'s items (``{"image": (C,H,W), "mask": (H,W), ...}``) passed through ``transform``.

    Call :meth:`set_epoch` before each epoch (the trainer does): an item's augmentation depends only on
    ``(seed, epoch, index)``. Other attributes (``patient_ids``...) are the wrapped dataset's.
    """

    def __init__(self, dataset, transform, seed: int):
        self.dataset, self.transform, self.seed, self.epoch = dataset, transform, int(seed), 0
        self.reseed = Reseeder(transform)

    def __getattr__(self, name):
        if name == "dataset":  # not yet set (unpickling): avoid recursing into __getattr__
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> dict:
        item = dict(self.dataset[i])
        image, mask = item["image"], item["mask"]
        absent = image.flatten(1).abs().amax(dim=1) == 0
        self.reseed(item_seed(self.seed, self.epoch, item["index"]))
        out = self.transform({"image": image, "mask": mask.reshape(1, *mask.shape[-2:])})
        image = _plain(out["image"]).clone()
        image[absent] = 0.0
        item["image"] = image
        item["mask"] = _plain(out["mask"]).reshape(mask.shape).contiguous()
        return item


def _plain(x) -> torch.Tensor:
    """A float32 torch tensor without MONAI's metadata."""
    x = x.as_tensor() if hasattr(x, "as_tensor") else torch.as_tensor(x)
    return x.to(torch.float32).contiguous()


def augmented(dataset, settings: dict[str, dict], seed: int):
    """``dataset`` wrapped in :class:`AugmentedSlices`, or itself when every transform is off."""
    transform = build_transform(settings)
    return dataset if transform is None else AugmentedSlices(dataset, transform, seed)
