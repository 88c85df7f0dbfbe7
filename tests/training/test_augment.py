"""Augmentation: settings validated, transforms seeded by (seed, epoch, item), geometry shared by image and mask."""

import pickle

import numpy as np
import pytest
import torch

from breastmri.data.errors import DataError
from breastmri.training.augment import (DEFAULTS, AugmentedSlices, Reseeder, augmented, build_transform,
                                       parse_settings)

OFF = {name: {"prob": 0.0} for name in DEFAULTS}


class Slices:
    """In-memory items shaped like H5SliceDataset's: image (C,S,S), mask (1,S,S)."""

    def __init__(self, n=6, channels=2, size=48, absent_channel=None):
        rng = np.random.default_rng(0)
        self.masks = np.zeros((n, 1, size, size), np.float32)
        for i in range(n):
            self.masks[i, 0, 10 + i:30 + i, 5:20 + i] = 1  # off-centre, not symmetric
        self.images = (rng.normal(size=(n, channels, size, size)) + 3 * self.masks).astype(np.float32)
        if absent_channel is not None:
            self.images[:, absent_channel] = 0
        self.patient_ids = np.array([f"P{i}" for i in range(n)])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": torch.from_numpy(self.images[i]), "mask": torch.from_numpy(self.masks[i]), "index": i}


def only(name, **settings):
    return parse_settings({**OFF, name: {"prob": 1.0, **settings}})


def test_defaults_and_overrides():
    settings = parse_settings({"gamma": {"range": [0.8, 1.2]}})
    assert settings["gamma"] == {"prob": DEFAULTS["gamma"]["prob"], "range": [0.8, 1.2]}
    assert {k: v for k, v in settings.items() if k != "gamma"} == {k: v for k, v in DEFAULTS.items() if k != "gamma"}
    assert parse_settings(None) == DEFAULTS and parse_settings({}) == DEFAULTS
    off = parse_settings(False)  # the unaugmented baseline: every transform off, ranges kept
    assert {name: entry["prob"] for name, entry in off.items()} == dict.fromkeys(DEFAULTS, 0.0)
    assert build_transform(off) is None


@pytest.mark.parametrize("values, message", [
    ({"rotation": {"prob": 0.1}}, "unknown augmentation 'rotation'"),
    ({"gamma": {"probability": 0.1}}, "unknown setting augment.gamma.probability"),
    ({"noise": {"prob": 1.5}}, "augment.noise.prob must lie in"),
    ({"blur": {"sigma": [1.0]}}, "augment.blur.sigma must be"),
    ({"blur": {"sigma": [2.0, 1.0]}}, "augment.blur.sigma must be"),
    ({"flip_lr": 0.5}, "augment.flip_lr must be a mapping"),
])
def test_bad_settings_name_the_key(values, message):
    with pytest.raises(DataError, match=message):
        parse_settings(values, "params.yaml")


def test_everything_off_leaves_the_dataset_unwrapped():
    data = Slices()
    assert build_transform(parse_settings(OFF)) is None
    assert augmented(data, parse_settings(OFF), seed=0) is data


def test_same_seed_epoch_and_item_give_the_same_slice_in_any_order_and_process():
    data = Slices()
    a = augmented(data, parse_settings({"breast_fov": {"prob": 0.5}}), seed=3)  # every transform, the view too
    b = pickle.loads(pickle.dumps(a))  # as a DataLoader worker receives it
    a.set_epoch(2), b.set_epoch(2)
    forward = [a[i]["image"] for i in range(len(data))]
    backward = [b[i]["image"] for i in reversed(range(len(data)))][::-1]
    for x, y in zip(forward, backward):
        assert torch.equal(x, y)
    a.set_epoch(3)
    assert not all(torch.equal(a[i]["image"], x) for i, x in enumerate(forward))
    other_seed = augmented(data, parse_settings(None), seed=4)
    other_seed.set_epoch(2)
    assert not all(torch.equal(other_seed[i]["image"], x) for i, x in enumerate(forward))


def test_mirror_flips_image_and_mask_left_right():
    data = Slices()
    item = augmented(data, only("flip_lr"), seed=0)[1]
    assert torch.equal(item["image"], torch.flip(data[1]["image"], [-1]))
    assert torch.equal(item["mask"], torch.flip(data[1]["mask"], [-1]))
    assert item["mask"].shape == data[1]["mask"].shape and item["index"] == 1


@pytest.mark.parametrize("name, settings", [("affine", {"rotate_deg": 20.0, "scale": 0.2}),
                                            ("elastic", {"magnitude": [2.0, 4.0]}), ("breast_fov", {})])
def test_spatial_transforms_move_image_and_mask_together(name, settings):
    data = Slices(channels=1)
    data.images = data.masks.copy()  # image == mask: after the warp they must still coincide
    wrapped = augmented(data, only(name, **settings), seed=1)
    moved = 0
    for i in range(len(data)):
        item = wrapped[i]
        mask, image = item["mask"][0].numpy(), item["image"][0].numpy()
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert np.sum((image > 0.5) != (mask > 0.5)) <= 0.15 * mask.sum()
        moved += not np.array_equal(mask, data.masks[i, 0])
    assert moved == len(data)


def test_breast_field_of_view_fills_the_slice_with_one_breast_and_its_chest_wall_margin():
    """Two breasts (column runs) on a slice: the view keeps one, enlarged with its proportions, the posterior
    margin (rows before it) drawn from the range; a slice without breast is left untouched."""
    size = 64
    mask = np.zeros((1, 1, size, size), np.float32)
    mask[0, 0, 30:46, 4:24] = 1   # right breast: 16 rows x 20 columns
    mask[0, 0, 32:44, 40:56] = 1  # left breast: 12 x 16
    data = Slices(n=1, channels=1, size=size)
    data.masks, data.images = mask, (mask * 3 + np.linspace(0, 1, size)[:, None]).astype(np.float32)
    kept = set()
    for seed in range(8):
        item = augmented(data, only("breast_fov", posterior=[0.1, 0.1], anterior=[0.0, 0.0], sides=[0.0, 0.0]),
                         seed=seed)[0]
        m = item["mask"][0].numpy() > 0
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        assert len(np.flatnonzero(np.diff(cols) > 1)) == 0  # one breast
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        # box = breast + 6 rows (0.1 x 64) behind it, longer side enlarged to 64, proportions kept
        fits = []
        for breast_h, breast_w in ((16, 20), (12, 16)):
            scale = size / max(breast_h + 6, breast_w)
            fits.append(abs(height - breast_h * scale) <= 2 and abs(width - breast_w * scale) <= 2
                        and abs(rows[-1] - ((size + (breast_h + 6) * scale) / 2 - 1)) <= 2)  # no margin before the tip
        assert sum(fits) == 1
        kept.add(fits.index(True))
        image = item["image"][0].numpy()
        assert np.sum((image > 2.0) != m) <= 0.05 * m.sum()  # image and mask moved together
    assert kept == {0, 1}  # either breast, at random
    empty = Slices(n=1, channels=1, size=size)
    empty.masks[:] = 0
    item = augmented(empty, only("breast_fov"), seed=0)[0]
    assert torch.equal(item["image"], empty[0]["image"]) and torch.equal(item["mask"], empty[0]["mask"])


@pytest.mark.parametrize("sides, cut", [(-0.05, 3), (-0.5, 5)])
def test_breast_field_of_view_with_negative_sides_cuts_the_breast_as_a_narrow_sagittal_slab(sides, cut):
    """A negative side margin narrows the box into the breast: its columns lose ``cut`` at each side (-0.05 x 64
    = 3; -0.5 is capped at a quarter of the 20-column breast, 5), the cut breast reaches both edges of the box,
    which fills the slice's height: its width in the slice is (20 - 2 cut) x 64 / 22 rows, the rest padding."""
    size = 64
    mask = np.zeros((1, 1, size, size), np.float32)
    mask[0, 0, 30:52, 20:40] = 1  # one breast: 22 rows x 20 columns
    data = Slices(n=1, channels=1, size=size)
    data.masks = mask
    data.images = (mask * 3 + np.linspace(0, 1, size)[None, :]).astype(np.float32)  # brighter to the right
    item = augmented(data, only("breast_fov", posterior=[0.0, 0.0], anterior=[0.0, 0.0], sides=[sides, sides]),
                     seed=0)[0]
    m, image = item["mask"][0].numpy() > 0, item["image"][0].numpy()
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    assert rows[0] == 0 and rows[-1] == size - 1  # the box's longer side (rows) fills the slice
    scale = size / 22
    assert abs(len(cols) - (20 - 2 * cut) * scale) <= 1
    assert np.all(image[:, :cols[0]] == image.min()) and np.all(image[:, cols[-1] + 1:] == image.min())  # padding
    # the breast's left-most kept column is its cut-th: the horizontal ramp there is (20 + cut) / 63
    assert abs(image[size // 2, cols[0] + 1] - 3 - (20 + cut + 0.5 / scale) / (size - 1)) < 0.02


@pytest.mark.parametrize("name", ["bias_field", "gamma", "noise", "blur", "low_resolution"])
def test_intensity_transforms_leave_the_mask_and_absent_phases_alone(name):
    data = Slices(channels=3, absent_channel=2)
    wrapped = augmented(data, only(name), seed=2)
    changed = 0
    for i in range(len(data)):
        item = wrapped[i]
        assert torch.equal(item["mask"], data[i]["mask"])
        assert torch.count_nonzero(item["image"][2]) == 0
        assert torch.isfinite(item["image"]).all() and item["image"].dtype == torch.float32
        changed += not torch.allclose(item["image"][:2], data[i]["image"][:2])
    assert changed == len(data)


@pytest.mark.parametrize("prob", [1.0, 0.5])
def test_reseeding_in_place_gives_monais_own_streams(prob):
    """Every transform of both tasks (elastic, the breast-only view and fewer phases included), each applied always
    or at random: reseeded in place, the chain gives item for item the bits of MONAI's ``set_random_state``, also
    when the generators were left mid-stream (a cached Gaussian draw) by the item before."""
    settings = parse_settings({name: {"prob": prob} for name in DEFAULTS})
    data = Slices(n=4, channels=6)
    monai_seeded, in_place = build_transform(settings), build_transform(settings)
    reseed = Reseeder(in_place)
    for seed in [0, 7, 2**32 - 1, 123456789, 7]:
        for i in range(len(data)):
            item = {"image": data[i]["image"], "mask": data[i]["mask"]}
            expected = monai_seeded.set_random_state(seed=seed + i)(dict(item))
            reseed(seed + i)
            got = in_place(dict(item))
            assert torch.equal(torch.as_tensor(got["image"]), torch.as_tensor(expected["image"]))
            assert torch.equal(torch.as_tensor(got["mask"]), torch.as_tensor(expected["mask"]))


def test_wrapper_passes_the_datasets_attributes():
    data = Slices()
    wrapped = AugmentedSlices(data, build_transform(parse_settings(None)), seed=0)
    assert list(wrapped.patient_ids) == list(data.patient_ids) and len(wrapped) == len(data)


def test_fewer_phases_zeroes_the_channels_after_a_random_count_and_keeps_the_first():
    """Six phase channels, min_phases 3: each item keeps its first k channels unchanged, k in 3..5, the rest zero;
    every k occurs over enough items; the mask is untouched; three channels or fewer are left as they are."""
    data = Slices(n=40, channels=6)
    wrapped = augmented(data, only("fewer_phases", min_phases=3), seed=5)
    kept = []
    for i in range(len(data)):
        item, original = wrapped[i], data[i]["image"]
        nonzero = [bool(torch.count_nonzero(c)) for c in item["image"]]
        k = nonzero.index(False)
        assert nonzero == [True] * k + [False] * (6 - k)
        assert torch.equal(item["image"][:k], original[:k]) and torch.equal(item["mask"], data[i]["mask"])
        kept.append(k)
    assert set(kept) == {3, 4, 5}
    few = Slices(channels=3)
    assert all(torch.equal(augmented(few, only("fewer_phases"), seed=5)[i]["image"], few[i]["image"])
               for i in range(len(few)))
    with pytest.raises(DataError, match="min_phases"):
        build_transform(only("fewer_phases", min_phases=0))
