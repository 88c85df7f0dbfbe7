"""The stage on a small project phantom: every planted defect detected, every aligned mask on its breast."""

import numpy as np
import pytest

from breastmri.data.io import load_volume
from breastmri.orientation.record import load_records, to_original_frame
from breastmri.orientation.stage import orient_dataset

synthesize = pytest.importorskip("breastmri.phantom.synthesize").synthesize


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom")
    # 6 training + 4 inference patients: the phantom plants each defect at least twice per split
    synthesize(out, seed=7, n_train=6, n_inference=4, n_mamamia=1, storage_rate=0.3)
    return out


def test_stage_on_phantom_is_exact(phantom, tmp_path):
    summary = orient_dataset(phantom / "seed", tmp_path / "oriented", metrics_path=tmp_path / "m.json",
                             truth_dir=phantom / "truth", workers=2, progress=False)
    metrics = summary["metrics"]
    assert summary["errors"] == []
    assert all(v == 1.0 for v in metrics["accuracy"].values()), metrics
    assert metrics["mask_dice"]["n"] == 6 and metrics["mask_dice"]["min"] == 1.0
    assert all(metrics["counts"][name]["planted"] >= 2 for name in metrics["counts"])
    assert set(metrics["storage"]) >= {"lps", "transposed"}


def test_round_trip_to_every_phantom_file(phantom, tmp_path):
    """Acceptance 2 on the phantom: each oriented file, mapped back with its record, equals the stored file."""
    out = tmp_path / "oriented"
    orient_dataset(phantom / "seed", out, workers=1, progress=False)
    records = load_records(out / "orientation_record.json")
    assert len(records) == 10
    for pid, record in records.items():
        stored = load_volume(phantom / "seed" / record.split / "scans" / f"{pid}.nii.gz").array
        oriented = load_volume(out / record.split / "scans" / f"{pid}.nii.gz").array
        assert np.array_equal(to_original_frame(oriented, record), stored)
        if record.has_mask:
            stored_mask = load_volume(phantom / "seed" / "train" / "masks" / f"{pid}.nii.gz", dtype=np.uint8).array
            mask = load_volume(out / "train" / "masks" / f"{pid}.nii.gz", dtype=np.uint8).array
            assert np.array_equal(to_original_frame(mask, record, kind="mask"), stored_mask)


def test_phantom_storage_variants_end_up_identical(phantom):
    """Acceptance 3 with the phantom's own storage writer: one case stored diag, LPS and transposed."""
    from breastmri.data.io import Volume
    from breastmri.orientation.canonical import canonical_affine, canonical_ornt, to_canonical
    from breastmri.orientation.orient import orient_pair
    from breastmri.phantom.defects import to_storage

    scans = sorted((phantom / "seed" / "train" / "scans").glob("*.nii.gz"))
    scan = load_volume(scans[0])
    mask = load_volume(phantom / "seed" / "train" / "masks" / scans[0].name, dtype=np.uint8)
    canonical_scan = to_canonical(scan.array, canonical_ornt(scan.affine))
    canonical_mask = to_canonical(mask.array, canonical_ornt(mask.affine))
    affine = canonical_affine(scan.affine, scan.shape, canonical_ornt(scan.affine))
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    results = []
    for storage in ("diag", "lps", "transposed"):
        s, affine = to_storage(canonical_scan, spacing, storage)
        m, _ = to_storage(canonical_mask, spacing, storage)
        results.append(orient_pair(Volume(s, affine, "p"), Volume(m, affine, "p")))
    for oriented, oriented_mask, record in results[1:]:
        assert np.array_equal(oriented, results[0][0]) and np.array_equal(oriented_mask, results[0][1])
        assert record.flips() == results[0][2].flips()
