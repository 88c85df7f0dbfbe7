"""The stage on a small project phantom (every seed cohort of params.yaml): every decision right in every cohort,
every aligned mask on its breast, every oriented file mapped back onto its stored file."""

import json
from pathlib import Path

import numpy as np
import pytest

from breastmri.data.io import load_volume
from breastmri.orientation.record import DECISIONS, load_records, to_original_frame
from breastmri.orientation.dataset import orient_dataset
from breastmri.stages.orient import Config as OrientConfig
from breastmri.stages.synthesize import Config as SynthesizeConfig

synthesize_module = pytest.importorskip("breastmri.phantom.synthesize")

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
#: a few patients of the params.yaml seed cohorts (MAMA-MIA not needed)
SMALL = {"seed": 5, "n_train": 6, "n_inference": 4, "n_mamamia": 1, "duke_matrix": 96}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom")
    synthesize_module.synthesize(**SynthesizeConfig.from_params(PARAMS).updated(out_dir=out, **SMALL).as_dict())
    truth = json.loads((out / "truth" / "truth.json").read_text())["seed_layout"]["patients"]
    if not all("stored_to_working" in entry and "cohort" in entry for entry in truth.values()):
        pytest.skip("the phantom's truth.json does not carry stored_to_working / cohort yet "
                    "(docs/orientation.md); the orientation stage cannot be scored against it")
    return out, truth


@pytest.fixture(scope="module")
def run(phantom, tmp_path_factory):
    out, _ = phantom
    config = OrientConfig.from_params(PARAMS)
    oriented = tmp_path_factory.mktemp("oriented") / "oriented"
    summary = orient_dataset(out / "seed", oriented, truth_dir=out / "truth", workers=2, progress=False,
                             settings=config.heuristics(), affine_mode=config.seed_affine, on_failure="exclude")
    return oriented, summary


def test_stage_on_phantom_is_exact_in_every_cohort(phantom, run):
    _, truth = phantom
    _, summary = run
    assert summary["excluded"] == {}, summary["excluded"]  # with on_failure: error the stage would have stopped
    metrics = summary["metrics"]
    assert summary["errors"] == []
    assert sorted(metrics["by_cohort"]) == sorted({entry["cohort"] for entry in truth.values()})
    for cohort, values in metrics["by_cohort"].items():
        assert all(v == 1.0 for v in values["accuracy"].values() if v is not None), (cohort, values["accuracy"])
    assert metrics["accuracy"] == {**{name: 1.0 for name in DECISIONS}, "all": 1.0}
    n_train = sum(entry["split"] == "train" for entry in truth.values())
    assert metrics["mask_dice"] == {"n": n_train, "min": 1.0, "mean": 1.0}


def test_round_trip_to_every_phantom_file(phantom, run):
    """Each oriented file, mapped back with its record, equals the stored file voxel for voxel."""
    out, truth = phantom
    oriented, summary = run
    records = load_records(oriented / "orientation_record.json")
    assert sorted(records) == sorted(set(truth) - set(summary["excluded"]))
    for pid, record in records.items():
        stored = load_volume(out / "seed" / record.split / "scans" / f"{pid}.nii.gz").array
        array = load_volume(oriented / record.split / "scans" / f"{pid}.nii.gz").array
        assert np.array_equal(to_original_frame(array, record), stored)
        if record.has_mask:
            stored_mask = load_volume(out / "seed" / "train" / "masks" / f"{pid}.nii.gz", dtype=np.uint8).array
            mask = load_volume(oriented / "train" / "masks" / f"{pid}.nii.gz", dtype=np.uint8).array
            assert np.array_equal(to_original_frame(mask, record, kind="mask"), stored_mask)
