"""The validate notebook runs on seed-layout data alone (``mamamia_root: ""``) and on MAMA-MIA data alone."""

import json
from pathlib import Path

import pytest

from breastmri.pipeline.notebook import run_notebook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_validate.ipynb"


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    from breastmri.stages import synthesize

    root = tmp_path_factory.mktemp("phantom")
    synthesize.run(synthesize.Config.from_params(ROOT / "params.yaml").updated(out_dir=root, seed=5, n_train=4,
                                                                               n_inference=2, n_mamamia=2))
    return root


@pytest.mark.parametrize("keep", ["seed", "mamamia"])
def test_one_layout_alone_validates_and_previews(phantom, tmp_path, monkeypatch, keep):
    monkeypatch.chdir(tmp_path)
    data = {"seed_root": str(phantom / "seed") if keep == "seed" else "",
            "mamamia_root": str(phantom / "mamamia") if keep == "mamamia" else "",
            "truth_dir": "", "seed_affine": "ignore", "mamamia_affine": "trust"}
    out_nb, _ = run_notebook(NOTEBOOK, {**data, "out_json": "validation.json", "n_preview": 1},
                             reports=tmp_path / "reports")
    summary = json.loads(Path("validation.json").read_text())
    assert (summary.get("seed") is not None) == (keep == "seed")
    assert (summary.get("mamamia") is not None) == (keep == "mamamia")
    assert "image/png" in out_nb.read_text()  # the preview of the layout that is there
