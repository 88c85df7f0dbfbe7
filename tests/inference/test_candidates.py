import numpy as np
import pytest

from breastmri.inference.candidates import SettingError, checked_candidate, compact_component, tumor_candidate
from breastmri.inference.postprocess import keep_large_components, largest_component


def test_largest_component_keeps_biggest_and_is_uint8():
    m = np.zeros((10, 10, 10), bool)
    m[1:3, 1:3, 1:3] = True          # 8 voxels
    m[5:9, 5:9, 5:9] = True          # 64 voxels
    out = largest_component(m)
    assert out.dtype == np.uint8
    assert out.sum() == 64 and out[6, 6, 6] == 1 and out[1, 1, 1] == 0


def test_largest_component_connectivity_and_empty():
    m = np.zeros((4, 4, 4), bool)
    m[0, 0, 0] = m[1, 1, 1] = m[2, 2, 2] = True
    assert largest_component(m, connectivity=1).sum() == 1
    assert largest_component(m, connectivity=3).sum() == 3
    assert largest_component(np.zeros((3, 3, 3))).sum() == 0


def test_candidate_is_brightest_blob_inside_breast():
    rng = np.random.default_rng(0)
    img = rng.normal(100, 5, (40, 40, 20)).astype(np.float32)
    breast = np.zeros(img.shape, bool)
    breast[10:35, 5:35, 2:18] = True
    img[20:24, 20:24, 8:12] += 200          # lesion inside the breast (64 voxels)
    img[0:5, 0:5, 0:5] += 1000              # brighter, but outside the breast
    img[30:31, 8:9, 4:5] += 150             # single bright speck inside
    cand = tumor_candidate(img, breast, percentile=98)
    assert cand.dtype == np.uint8
    assert cand[21, 21, 9] == 1
    assert cand[0:5, 0:5, 0:5].sum() == 0 and cand[30, 8, 4] == 0
    assert cand[20:24, 20:24, 8:12].all() and cand.sum() < 64 + 16  # lesion + a few adjacent noise voxels


def test_candidate_edge_cases():
    img = np.ones((5, 5, 5), np.float32)
    assert tumor_candidate(img, np.zeros_like(img)).sum() == 0
    assert tumor_candidate(img, np.ones_like(img)).sum() == 0      # constant: nothing strictly above
    with pytest.raises(ValueError):
        tumor_candidate(img, np.ones((5, 5, 4)))
    with pytest.raises(ValueError):
        tumor_candidate(img, np.ones_like(img), percentile=100)


def _vessel_and_tumour(spacing):
    """A breast box (mm grid of ``spacing``) with a long bright vessel (1.8 mm radius, 110 mm long) and a smaller
    compact tumour (a 5 mm ball) of the same brightness; returns image, breast, vessel, tumour."""
    shape = tuple(int(round(n / s)) for n, s in zip((60.0, 120.0, 60.0), spacing))
    z, y, x = np.meshgrid(*[(np.arange(n) + 0.5) * s for n, s in zip(shape, spacing)], indexing="ij")
    vessel = ((z - 15) ** 2 + (x - 30) ** 2 <= 1.8 ** 2) & (y > 5) & (y < 115)
    tumour = (z - 42) ** 2 + (y - 60) ** 2 + (x - 30) ** 2 <= 5.0 ** 2
    image = np.full(shape, 50.0, np.float32)
    image[vessel | tumour] = 300.0
    return image, np.ones(shape, bool), vessel, tumour


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 0.7, 2.0), (2.0, 0.8, 0.8)])
def test_a_compact_tumour_outranks_a_longer_thin_vessel_with_a_core(spacing):
    image, breast, vessel, tumour = _vessel_and_tumour(spacing)
    assert vessel.sum() > tumour.sum()  # the published rule (largest component) picks the vessel
    assert (tumor_candidate(image, breast, 90.0) > 0).tolist() == vessel.tolist()
    found = tumor_candidate(image, breast, 90.0, core_mm=3.0, spacing=spacing) > 0
    assert found.tolist() == tumour.tolist()  # the whole component, not only its core
    tumor, _ = checked_candidate(image, breast, 90.0, 0.5, core_mm=3.0, spacing=spacing)
    assert (tumor > 0).tolist() == tumour.tolist()
    # a ball wider than the tumour fits nowhere: the largest component again
    assert (tumor_candidate(image, breast, 90.0, core_mm=6.0, spacing=spacing) > 0).tolist() == vessel.tolist()


def test_the_core_is_measured_against_the_array_edge_too():
    """A bright slab along the array's edge is as thin as it looks: the edge is not bright."""
    above = np.zeros((30, 30, 30), bool)
    above[:4, :, :] = True                # 4 voxels thick, 3600 voxels, on the edge
    above[10:19, 10:19, 10:19] = True     # 9 voxels wide, 729 voxels
    cube = np.zeros_like(above)
    cube[10:19, 10:19, 10:19] = True
    np.testing.assert_array_equal(compact_component(above, 3.0, (1.0, 1.0, 1.0)) > 0, cube)
    assert compact_component(above, 0.0, (1.0, 1.0, 1.0)).sum() == 3600
    with pytest.raises(ValueError, match="spacing"):
        tumor_candidate(above.astype(np.float32), above, 50.0, core_mm=3.0)
    with pytest.raises(ValueError, match="core_mm"):
        tumor_candidate(above.astype(np.float32), above, 50.0, core_mm=-1.0, spacing=(1.0, 1.0, 1.0))


def test_keep_large_components_keeps_both_breasts():
    m = np.zeros((20, 20, 10), bool)
    m[2:10, 2:10, :] = True          # 640 voxels (larger breast)
    m[12:17, 12:17, :] = True        # 250 voxels (smaller breast)
    m[0, 19, 0] = True               # 1-voxel blob
    both = keep_large_components(m, 0.2)
    assert both.sum() == 890 and both[0, 19, 0] == 0
    np.testing.assert_array_equal(keep_large_components(m, 1.0), largest_component(m))
    assert keep_large_components(m, 0.0).sum() == 891
    assert keep_large_components(np.zeros((3, 3, 3)), 0.2).sum() == 0
    with pytest.raises(ValueError):
        keep_large_components(m, -1)


def _reference_candidate(image, breast_mask, percentile=98.0, connectivity=1):
    """The whole-volume computation (before the bounding-box crop)."""
    from scipy import ndimage

    image = np.asarray(image, dtype=np.float32)
    breast = np.asarray(breast_mask) > 0
    if not breast.any():
        return np.zeros(image.shape, np.uint8)
    bright = breast & (image > np.percentile(image[breast], percentile))
    labels, n = ndimage.label(bright, structure=ndimage.generate_binary_structure(3, connectivity))
    if n <= 1:
        return bright.astype(np.uint8)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    return (labels == int(np.argmax(sizes))).astype(np.uint8)


@pytest.mark.parametrize("seed", range(6))
def test_candidate_on_the_breasts_box_equals_the_whole_volume(seed):
    rng = np.random.default_rng(seed)
    shape = (40, 34, 16)
    img = rng.gamma(2.0, 50.0, shape).astype(np.float32)
    breast = np.zeros(shape, bool)
    lo = rng.integers(0, 10, size=3)
    if seed % 2:
        lo[0] = 0  # reaching the array's edge
    breast[lo[0]:lo[0] + 25, lo[1]:lo[1] + 20, lo[2]:] = rng.random((25, 20, shape[2] - lo[2]))[
        :min(25, shape[0] - lo[0]), :min(20, shape[1] - lo[1])] > 0.2
    whole = rng.random(shape) > 0.2  # a breast mask whose box is the whole volume
    for mask in (breast, whole, np.ones(shape, bool)):
        for percentile, connectivity in ((98.0, 1), (90.0, 3), (50.0, 1)):
            np.testing.assert_array_equal(tumor_candidate(img, mask, percentile, connectivity),
                                          _reference_candidate(img, mask, percentile, connectivity))


def _breast_with(fat: float, fibroglandular: float, lesion: float, seed: int = 0):
    """A breast of fat with a fibroglandular band and a lesion (signal levels as given) plus noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((40, 40, 20), np.float32)
    breast = np.zeros(img.shape, bool)
    breast[5:35, 5:35, 2:18] = True
    img[breast] = fat
    img[15:25, 5:35, 2:18] = fibroglandular
    img[28:32, 20:24, 8:12] = lesion
    return img + rng.normal(0, 5, img.shape).astype(np.float32), breast


def _check(image, region, max_bulk_ratio):
    """The trust test of :func:`checked_candidate` (the candidate at the rule's default 98th percentile)."""
    return checked_candidate(image, region, 98.0, max_bulk_ratio)[1]


def _bulk_ratio(image, region):
    return _check(image, region, 1.0)["bulk_ratio"]


def test_bulk_ratio_separates_suppressed_from_bright_fat():
    suppressed = _breast_with(fat=60, fibroglandular=150, lesion=400)   # fat dark, the lesion enhancing
    bright_fat = _breast_with(fat=400, fibroglandular=170, lesion=380)  # no suppression: fat near the top
    low, high = _bulk_ratio(*suppressed), _bulk_ratio(*bright_fat)
    assert low < 0.45 and high > 0.9
    # the median over the 99th percentile, exactly
    img, breast = suppressed
    assert low == pytest.approx(np.median(img[breast]) / np.percentile(img[breast], 99), rel=1e-6)
    assert np.isnan(_bulk_ratio(img, np.zeros_like(breast)))
    assert np.isnan(_bulk_ratio(np.zeros_like(img), breast))


def test_the_check_trusts_only_below_the_ratio():
    suppressed, bright_fat = _breast_with(60, 150, 400), _breast_with(400, 170, 380)
    ok = _check(*suppressed, max_bulk_ratio=0.5)
    assert ok["trusted"] and ok["problem"] is None and ok["rule"] == "percentile"
    bad = _check(*bright_fat, max_bulk_ratio=0.5)
    assert not bad["trusted"] and "not suppressed" in bad["problem"] and f"{bad['bulk_ratio']:.2f}" in bad["problem"]
    assert _check(*bright_fat, max_bulk_ratio=1.0)["trusted"]     # 1.0 trusts every breast with signal
    empty = _check(suppressed[0], np.zeros_like(suppressed[1]), max_bulk_ratio=1.0)
    assert not empty["trusted"] and "no breast signal" in empty["problem"]
    for wrong in (0.0, 1.5):
        with pytest.raises(ValueError, match="max_bulk_ratio"):
            _check(*suppressed, max_bulk_ratio=wrong)


def test_the_rule_checks_its_values_says_what_it_is_and_finds_what_checked_candidate_finds():
    from breastmri.inference.candidates import CandidateRule, checked_candidate

    rule = CandidateRule(percentile=98.0, core_mm=1.0, skin_margin_mm=3.0, max_bulk_ratio=0.5)
    assert rule.describe().startswith("percentile: the 3D component with the most voxels 1 mm inside")
    assert "above the 98th percentile" in rule.describe() and "at most 0.5 of its 99th" in rule.describe()
    image, breast = _breast_with(60, 150, 400)
    tumor, check = rule.check(image, breast, (1.0, 1.0, 1.0))
    expected, expected_check = checked_candidate(image, breast, 98.0, 0.5, core_mm=1.0, spacing=(1.0, 1.0, 1.0))
    assert tumor.any() and np.array_equal(tumor, expected) and check == expected_check
    for field, wrong in (("percentile", 100.0), ("core_mm", -1.0), ("skin_margin_mm", -0.5),
                         ("max_bulk_ratio", 0.0), ("max_bulk_ratio", 1.5), ("core_mm", float("nan"))):
        values = {"percentile": 98.0, "core_mm": 1.0, "skin_margin_mm": 3.0, "max_bulk_ratio": 0.5, field: wrong}
        with pytest.raises(SettingError, match=field) as raised:  # a ValueError naming the field
            CandidateRule(**values)
        assert raised.value.field == field and raised.value.problem.endswith(f"got {wrong}")


def test_the_check_tells_suppressed_from_bright_fat_on_an_unseen_phantom(tmp_path):
    """On a phantom seed never used to choose the ratio (seed 42 chose it), with the true breast masks: every
    fat-suppressed scan is trusted, every non-suppressed (t1) one is not."""
    from breastmri.inference.postprocess import erode_mm
    from breastmri.phantom.synthesize import synthesize
    from breastmri.phantom.truth import load_seed_truth, truth_file
    from breastmri.stages.synthesize import Config
    import nibabel as nib
    from pathlib import Path

    params = Config.from_params(Path(__file__).resolve().parents[2] / "params.yaml").as_dict()
    cohorts = {"fs": {"share": 0.5, "affine": "scanner", "contrast": "fat_suppressed", "symmetric": False,
                      "acquisition": "phantom"},
               "t1": {"share": 0.5, "affine": "scanner", "contrast": "t1", "symmetric": False,
                      "acquisition": "phantom"}}
    synthesize(tmp_path, seed=11, n_train=0, n_inference=8, n_mamamia=0, scan_swap_rate=0.0, scan_flip_ud_rate=0.0,
               scan_flip_hf_rate=0.0, mask_flip_ud_rate=0.0, mask_flip_lr_rate=0.0,
               scanner_orientations=params["scanner_orientations"], oblique_rate=0.0,
               duke_matrix=params["duke_matrix"], seed_cohorts=cohorts, mamamia_cohorts={})
    truth = load_seed_truth(tmp_path / "truth")
    seen = {"fs": 0, "t1": 0}
    for pid, entry in truth.items():
        scan = nib.load(tmp_path / "seed" / "inference" / "scans" / f"{pid}.nii.gz")
        image = np.asarray(scan.dataobj, dtype=np.float32)
        breast = np.asarray(nib.load(truth_file(tmp_path / "truth", entry["breast_mask"])).dataobj)
        region = erode_mm(breast, scan.header.get_zooms()[:3], 3.0)
        check = _check(image, region, max_bulk_ratio=0.5)
        seen[entry["cohort"]] += 1
        assert check["trusted"] == (entry["cohort"] == "fs"), (pid, entry["cohort"], check)
    assert seen == {"fs": 4, "t1": 4}


@pytest.mark.parametrize("seed", range(4))
def test_checked_candidate_equals_the_candidate_and_the_ratio_computed_apart(seed):
    """One pass over the region gives exactly the percentile rule's candidate and the median over the 99th
    percentile of the region's voxels, each computed on its own (bright fat or not, boxed or whole)."""
    rng = np.random.default_rng(seed)
    img, breast = _breast_with(fat=60 if seed % 2 else 400, fibroglandular=150, lesion=390, seed=seed)
    img = np.asfortranarray(img * rng.uniform(0.5, 3.0))  # NIfTI arrays come Fortran-ordered
    for region in (breast, np.ones(img.shape, bool), rng.random(img.shape) > 0.5, np.zeros(img.shape, bool)):
        for percentile, ratio in ((98.0, 0.5), (90.0, 0.8)):
            tumor, check = checked_candidate(img, region, percentile, ratio)
            np.testing.assert_array_equal(tumor, tumor_candidate(img, region, percentile))
            values = img[region]
            median, top = np.percentile(values, [50.0, 99.0]) if values.size else (np.nan, np.nan)
            expected = float(median / top) if top > 0 else float("nan")
            found = check["bulk_ratio"]
            assert found == expected or (expected != expected and found != found)
            assert check["trusted"] == bool(expected <= ratio) and check["rule"] == "percentile"
            assert (check["problem"] is None) == check["trusted"]
    with pytest.raises(ValueError, match="max_bulk_ratio"):
        checked_candidate(img, breast, 98.0, 0.0)
    with pytest.raises(ValueError, match="percentile"):
        checked_candidate(img, breast, 100.0, 0.5)
