import dataclasses
import os

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from inference_helpers import phantom_like, store, tiny_checkpoint

from breastmri.data.atomic import LOCK
from breastmri.data.dicom import load_dicom_phases
from breastmri.data.io import load_volume, save_nifti
from breastmri.inference.candidates import CandidateRule
from breastmri.inference.command import RULE_FLAGS, main
from breastmri.phantom.dicom import write_dicom_series

CASE = "DUKE_001"


@pytest.fixture
def case_dir(tmp_path):
    """A MAMA-MIA style case: pre-contrast + 3 post-contrast phases (two missing), LPS-stored, non-square."""
    scan, _, lesion = phantom_like(shape=(30, 24, 12), lesion_centre=(22, 8, 6), lesion_radius=3)
    folder = tmp_path / "images" / CASE
    for k, gain in enumerate((1.0, 1.6, 1.4, 1.2)):
        phase = scan.copy()
        phase[lesion > 0] *= gain
        (arr,), affine = store([phase], "lps", spacing=(1.5, 1.4, 3.0))
        save_nifti(arr, affine, folder / f"{CASE}_{k:04d}.nii.gz")
    (mask,), affine = store([lesion], "lps", spacing=(1.5, 1.4, 3.0))
    save_nifti(mask, affine, tmp_path / "seg" / f"{CASE}.nii.gz")
    return folder, tmp_path / "seg" / f"{CASE}.nii.gz"


@pytest.fixture
def checkpoints(tmp_path):
    return (tiny_checkpoint(tmp_path / "lesion.pt", task="lesion", size=24),
            tiny_checkpoint(tmp_path / "breast.pt", task="breast", size=24))


def _files(folder):
    """What a folder holds, but for the lock file its runs take turns through (hidden, empty, kept)."""
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK) if folder.exists() else []


def test_lesion_case_with_and_without_mask(case_dir, checkpoints, tmp_path, capsys):
    folder, mask = case_dir
    lesion_ckpt, _ = checkpoints
    out = tmp_path / "out"
    assert main(["--phases_folder", str(folder), "--checkpoint_path", str(lesion_ckpt), "--out_dir", str(out),
                 "--device", "cpu"]) == 0
    assert _files(out) == [f"{CASE}_overlay.png", f"{CASE}_pred.nii.gz", f"{CASE}_prob.nii.gz"]
    ref = nib.load(str(folder / f"{CASE}_0000.nii.gz"))
    for name in (f"{CASE}_pred.nii.gz", f"{CASE}_prob.nii.gz"):
        img = nib.load(str(out / name))
        assert img.shape == ref.shape
        np.testing.assert_array_equal(img.affine, ref.affine)
    assert main(["--phases_folder", str(folder), "--mask_path", str(mask), "--checkpoint_path", str(lesion_ckpt),
                 "--out_dir", str(out)]) == 0
    text = (out / f"{CASE}_metrics.txt").read_text()
    assert "dice:" in text and "hd95_mm:" in text and "task: lesion" in text


def test_breast_scan_with_mask(tmp_path, checkpoints):
    _, breast_ckpt = checkpoints
    scan, breast, _ = phantom_like()
    (s, b), affine = store([scan, breast], "transposed", flip_ud=True)
    save_nifti(s, affine, tmp_path / "Breast_MRI_007.nii.gz")
    save_nifti(b, affine, tmp_path / "truth.nii.gz")
    out = tmp_path / "out"
    assert main(["--scan", str(tmp_path / "Breast_MRI_007.nii.gz"), "--mask_path", str(tmp_path / "truth.nii.gz"),
                 "--checkpoint_path", str(breast_ckpt), "--out_dir", str(out), "--device", "auto"]) == 0
    names = _files(out)
    for suffix in ("_pred.nii.gz", "_prob.nii.gz", "_tumor.nii.gz", "_features.csv", "_overlay.png", "_metrics.txt"):
        assert f"Breast_MRI_007{suffix}" in names
    img = nib.load(str(out / "Breast_MRI_007_pred.nii.gz"))
    assert img.shape == s.shape
    np.testing.assert_array_equal(img.affine, nib.load(str(tmp_path / "Breast_MRI_007.nii.gz")).affine)


def test_breast_scan_says_when_its_tumour_candidate_is_not_trusted(tmp_path, checkpoints, capsys):
    """The stand-in phantom's breast has its median at about 0.45 of its 99th percentile (uniform tissue, a bright
    lesion): with a ratio of 0.1 the candidate is still written, the feature table says untrusted, and stderr warns
    once, naming the scan; a ratio of 1 trusts it. Out-of-range rule settings are one-line errors."""
    _, breast_ckpt = checkpoints
    scan, _, _ = phantom_like()
    (s,), affine = store([scan], "diag")
    save_nifti(s, affine, tmp_path / "Breast_MRI_007.nii.gz")
    base = ["--scan", str(tmp_path / "Breast_MRI_007.nii.gz"), "--checkpoint_path", str(breast_ckpt), "--device", "cpu"]
    capsys.readouterr()
    assert main(base + ["--out_dir", str(tmp_path / "a"), "--candidate_max_bulk_ratio", "0.1"]) == 0
    assert (tmp_path / "a" / "Breast_MRI_007_tumor.nii.gz").is_file()
    warnings = [line for line in capsys.readouterr().err.splitlines() if "tumour candidate not trusted" in line]
    assert len(warnings) == 1 and warnings[0].startswith(f"WARNING: {tmp_path / 'Breast_MRI_007.nii.gz'}: ")
    table = pd.read_csv(tmp_path / "a" / "Breast_MRI_007_features.csv", index_col="patient_id")
    assert not table.loc["Breast_MRI_007", "candidate_trusted"]
    assert main(base + ["--out_dir", str(tmp_path / "b"), "--candidate_max_bulk_ratio", "1.0"]) == 0
    assert "not trusted" not in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "b" / "Breast_MRI_007_features.csv")["candidate_trusted"].all()
    for flag, value, problem in (("--candidate_max_bulk_ratio", "0", "must be in (0, 1], got 0.0"),
                                 ("--tumor_percentile", "100", "must be in [0, 100), got 100.0"),
                                 ("--tumor_core_mm", "-1", "must be >= 0, got -1.0"),
                                 ("--skin_margin_mm", "nan", "must be >= 0, got nan"),
                                 ("--batch_size", "0", "must be >= 1, got 0")):
        err = _error(capsys, base + ["--out_dir", str(tmp_path / "c"), flag, value], tmp_path / "c")
        assert err == f"error: {flag} {problem}\n"
    # every field of the rule has its flag (the rule's own checks name the field; the command names the flag)
    assert set(RULE_FLAGS) == {field.name for field in dataclasses.fields(CandidateRule)}


def _error(capsys, argv, out, file=None):
    """``main(argv)`` exits 1 with ONE stderr line ``error: [<file>: ]<problem>`` and leaves ``out`` absent or
    empty (no final output, no staging folder)."""
    capsys.readouterr()  # what earlier runs in the same test printed
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: {file}: " if file is not None else "error: "), err
    assert err.count("\n") == 1 and err.endswith("\n"), err  # one line
    assert [n for n in _files(out) if not n.startswith(".")] == [] and _files(out) == []
    return err


def test_bad_inputs_give_messages_and_no_outputs(case_dir, checkpoints, tmp_path, capsys):
    folder, mask = case_dir
    lesion_ckpt, breast_ckpt = checkpoints
    out = tmp_path / "bad_out"
    base = ["--checkpoint_path", str(lesion_ckpt), "--out_dir", str(out)]

    err = _error(capsys, ["--phases_folder", str(tmp_path / "nowhere")] + base, out)
    assert "nowhere" in err and "missing" in err

    err = _error(capsys, ["--phases_folder", str(folder), "--checkpoint_path", str(tmp_path / "no.pt"),
                          "--out_dir", str(out)], out)
    assert "no.pt" in err and "not found" in err

    corrupt_ckpt = tmp_path / "corrupt.pt"
    corrupt_ckpt.write_bytes(lesion_ckpt.read_bytes()[:200])
    err = _error(capsys, ["--phases_folder", str(folder), "--checkpoint_path", str(corrupt_ckpt),
                          "--out_dir", str(out)], out)
    assert "corrupt.pt" in err and "corrupt" in err

    err = _error(capsys, ["--phases_folder", str(folder), "--checkpoint_path", str(breast_ckpt),
                          "--out_dir", str(out)], out)
    assert "breast.pt" in err and "'breast' task" in err and "--scan" in err

    err = _error(capsys, ["--scan", str(folder / f"{CASE}_0000.nii.gz")] + base, out)
    assert "lesion.pt" in err and "'lesion' task" in err

    err = _error(capsys, ["--phases_folder", str(folder), "--mask_path", str(tmp_path / "nomask.nii.gz")] + base, out)
    assert "nomask.nii.gz" in err

    # a truncated phase
    phase = folder / f"{CASE}_0002.nii.gz"
    good = phase.read_bytes()
    phase.write_bytes(good[: len(good) // 2])
    err = _error(capsys, ["--phases_folder", str(folder)] + base, out)
    assert f"{CASE}_0002.nii.gz" in err and "corrupt" in err
    phase.write_bytes(good)

    # a phase on another grid
    img = nib.load(str(phase))
    save_nifti(np.asarray(img.dataobj)[:, :, :-1], img.affine, phase)
    err = _error(capsys, ["--phases_folder", str(folder)] + base, out)
    assert f"{CASE}_0002.nii.gz" in err and "geometry" in err
    phase.write_bytes(good)

    # a mask on another grid
    m = nib.load(str(mask))
    save_nifti(np.asarray(m.dataobj)[:-2], m.affine, tmp_path / "small_mask.nii.gz")
    err = _error(capsys, ["--phases_folder", str(folder), "--mask_path", str(tmp_path / "small_mask.nii.gz")] + base,
                 out)
    assert "small_mask.nii.gz" in err and "grid" in err

    # missing pre-contrast phase
    (folder / f"{CASE}_0000.nii.gz").rename(tmp_path / "moved.nii.gz")
    err = _error(capsys, ["--phases_folder", str(folder)] + base, out)
    assert f"{CASE}_0000.nii.gz" in err


def test_usage_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--checkpoint_path", "x.pt", "--out_dir", "o"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["--scan", "a.nii.gz", "--phases_folder", "b", "--checkpoint_path", "x.pt", "--out_dir", "o"])


def test_threshold_option_takes_a_number_or_the_threshold_stage_json(case_dir, checkpoints, tmp_path, capsys):
    folder, mask = case_dir
    lesion_ckpt, _ = checkpoints
    base = ["--phases_folder", str(folder), "--mask_path", str(mask), "--checkpoint_path", str(lesion_ckpt),
            "--device", "cpu"]
    (tmp_path / "threshold.json").write_text('{"threshold": 0.35, "mean_dice": 0.9}')
    voxels = {}
    for name, value in (("low", "0.05"), ("json", str(tmp_path / "threshold.json")), ("high", "0.95")):
        assert main(base + ["--out_dir", str(tmp_path / name), "--threshold", value]) == 0
        text = (tmp_path / name / f"{CASE}_metrics.txt").read_text()
        voxels[name] = int(text.split("pred_voxels: ")[1].split()[0])
        assert text.split("threshold: ")[1].split()[0] == f"{float(value) if name != 'json' else 0.35:.6f}"
        prob = np.asarray(nib.load(str(tmp_path / name / f"{CASE}_prob.nii.gz")).dataobj)
        cut = 0.35 if name == "json" else float(value)
        # the stored probabilities are within 7.7e-6 of the model's (uint16 levels): only voxels that close to
        # the threshold may fall on the other side of it
        assert abs(voxels[name] - int((prob > cut).sum())) <= int((np.abs(prob - cut) < 1e-5).sum())
    assert voxels["low"] >= voxels["json"] >= voxels["high"]
    for bad in ("1.5", str(tmp_path / "missing.json")):
        _error(capsys, base + ["--out_dir", str(tmp_path / "bad"), "--threshold", bad], tmp_path / "bad")


def test_min_component_fraction_removes_small_scattered_components(case_dir, checkpoints, tmp_path, capsys):
    from scipy import ndimage

    folder, _ = case_dir
    lesion_ckpt, _ = checkpoints
    base = ["--phases_folder", str(folder), "--checkpoint_path", str(lesion_ckpt), "--device", "cpu"]
    assert main(base + ["--out_dir", str(tmp_path / "probe"), "--min_component_fraction", "0"]) == 0
    prob = np.asarray(nib.load(str(tmp_path / "probe" / f"{CASE}_prob.nii.gz")).dataobj)
    # a threshold at which the untrained model's prediction falls apart into several components
    cut = next(float(q) for q in np.quantile(prob, np.linspace(0.5, 0.995, 60))
               if ndimage.label(prob > q)[1] > 2)
    preds = {}
    for fraction in ("0", "1"):
        out = tmp_path / f"f{fraction}"
        assert main(base + ["--out_dir", str(out), "--threshold", f"{cut:.9f}", "--min_component_fraction",
                            fraction]) == 0
        preds[fraction] = np.asarray(nib.load(str(out / f"{CASE}_pred.nii.gz")).dataobj) > 0
    assert ndimage.label(preds["0"])[1] > 2
    assert ndimage.label(preds["1"])[1] == 1
    assert not (preds["1"] & ~preds["0"]).any()
    _error(capsys, base + ["--out_dir", str(tmp_path / "bad"), "--min_component_fraction", "-0.5"], tmp_path / "bad")


def _dicom_case(root, n_phases=4):
    """A DCE case as ONE DICOM series (NACT-like: instance blocks and content times) and its NIfTI conversion in
    the MAMA-MIA layout, the phases read from the series saved exactly as read."""
    scan, _, lesion = phantom_like(shape=(30, 24, 12), lesion_centre=(22, 8, 6), lesion_radius=3)
    phases = []
    for gain in (1.0, 1.6, 1.4, 1.2)[:n_phases]:
        phase = scan.copy()
        phase[lesion > 0] *= gain
        phases.append(np.round(phase))
    stored, affine = store(phases, "lps", spacing=(1.5, 1.4, 3.0))
    write_dicom_series(root / "dicom" / CASE, np.stack(stored, axis=3), affine, seed=CASE)
    for k, vol in enumerate(load_dicom_phases(root / "dicom" / CASE)):
        save_nifti(vol.array.astype(np.int16), vol.affine, root / "nifti" / CASE / f"{CASE}_{k:04d}.nii.gz")
    return root / "dicom" / CASE, root / "nifti" / CASE


def _run_both(option, sources, checkpoint, tmp_path, case):
    """Outputs of the DICOM and the NIfTI input, at a threshold that splits the untrained model's probabilities
    (a non-trivial mask), keeping every component."""
    def run(name, extra=()):
        out = tmp_path / name
        assert main([option, str(sources[name]), "--checkpoint_path", str(checkpoint), "--out_dir", str(out),
                     "--device", "cpu", "--min_component_fraction", "0", *extra]) == 0
        return {kind: nib.load(str(out / f"{case}_{kind}.nii.gz")) for kind in ("pred", "prob")}

    cut = float(np.quantile(np.asarray(run("probe")["prob"].dataobj), 0.7))
    results = {name: run(name, ("--threshold", f"{cut:.9f}")) for name in ("dicom", "nifti")}
    pred = np.asarray(results["dicom"]["pred"].dataobj)
    assert 0 < pred.sum() < pred.size
    np.testing.assert_array_equal(pred, np.asarray(results["nifti"]["pred"].dataobj))
    return results


def test_lesion_case_from_one_dicom_series_gives_nifti_on_its_geometry(checkpoints, tmp_path):
    lesion_ckpt, _ = checkpoints
    dicom, nifti = _dicom_case(tmp_path)
    sources = {"probe": dicom, "dicom": dicom, "nifti": nifti}
    results = _run_both("--phases_folder", sources, lesion_ckpt, tmp_path, CASE)
    first = load_dicom_phases(dicom)[0]
    for kind, img in results["dicom"].items():
        assert img.shape == first.shape
        np.testing.assert_allclose(img.affine, first.affine, atol=1e-5)
    np.testing.assert_allclose(np.asarray(results["dicom"]["prob"].dataobj),
                               np.asarray(results["nifti"]["prob"].dataobj), atol=1e-5)


def test_breast_scan_from_a_dicom_series_equals_its_nifti_conversion(checkpoints, tmp_path, capsys):
    _, breast_ckpt = checkpoints
    scan, _, _ = phantom_like()
    (s,), affine = store([np.round(scan)], "lps")
    dicom = tmp_path / "Breast_MRI_007"
    write_dicom_series(dicom, s, affine, seed="Breast_MRI_007")
    vol = load_volume(dicom)
    nifti = save_nifti(vol.array.astype(np.int16), vol.affine, tmp_path / "nifti" / "Breast_MRI_007.nii.gz")
    sources = {"probe": dicom, "dicom": dicom, "nifti": nifti}
    results = _run_both("--scan", sources, breast_ckpt, tmp_path, "Breast_MRI_007")
    for kind, img in results["dicom"].items():
        assert img.shape == vol.shape
        np.testing.assert_allclose(img.affine, vol.affine, atol=1e-5)
        np.testing.assert_array_equal(np.asarray(img.dataobj), np.asarray(results["nifti"][kind].dataobj))

    base = ["--checkpoint_path", str(breast_ckpt), "--out_dir", str(tmp_path / "bad")]
    (tmp_path / "empty").mkdir()
    err = _error(capsys, ["--scan", str(tmp_path / "empty")] + base, tmp_path / "bad")
    assert "empty: folder holds no DICOM image files" in err
    series, _ = _dicom_case(tmp_path / "dce", n_phases=2)
    err = _error(capsys, ["--scan", str(series)] + base, tmp_path / "bad")
    assert "the series holds 2 phases" in err


def _forged(path, state_update, task="breast"):
    """A loadable checkpoint with one part replaced (what a hand-edited or foreign file looks like)."""
    import torch

    state = torch.load(tiny_checkpoint(path, task=task, size=24), weights_only=True)
    state.update(state_update)
    torch.save(state, path)
    return path


def test_unusable_checkpoints_thin_scans_and_label_maps_are_one_line_errors(tmp_path, checkpoints, capsys):
    """Bad inputs that once ended in a traceback (or in an empty mask and exit 0)."""
    _, breast_ckpt = checkpoints
    scan, breast, _ = phantom_like()
    (s, b), affine = store([scan, breast], "diag")
    save_nifti(s, affine, tmp_path / "scan.nii.gz")
    out = tmp_path / "out"
    base = ["--scan", str(tmp_path / "scan.nii.gz"), "--out_dir", str(out), "--device", "cpu"]

    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    err = _error(capsys, base + ["--checkpoint_path", str(text)], out, file=text)
    assert "cannot read checkpoint" in err and "not a PyTorch file" in err and "pickled" not in err

    import torch
    state = torch.load(breast_ckpt, weights_only=True)
    shapes = {"model_state": {k: v[..., :1] if v.ndim else v for k, v in state["model_state"].items()}}
    for name, update in [("shapes.pt", shapes), ("config.pt", {"model_config": {"in_channels": "six"}}),
                         ("weights.pt", {"model_state": {}}), ("threshold.pt", {"threshold": 7.0})]:
        err = _error(capsys, base + ["--checkpoint_path", str(_forged(tmp_path / name, update))], out,
                     file=tmp_path / name)
    assert "threshold" in err and "(0, 1)" in err

    save_nifti(s[:, :1], affine, tmp_path / "thin.nii.gz")  # 176x1x34-like: one voxel thick
    err = _error(capsys, ["--scan", str(tmp_path / "thin.nii.gz"), "--checkpoint_path", str(breast_ckpt),
                          "--out_dir", str(out)], out, file=tmp_path / "thin.nii.gz")
    assert "fewer than 4 voxels along axis 1" in err

    labels = b.astype(np.int16) * 3  # a label map, not a binary mask
    labels[:2] = 1
    save_nifti(labels, affine, tmp_path / "labels.nii.gz")
    err = _error(capsys, base + ["--checkpoint_path", str(breast_ckpt), "--mask_path", str(tmp_path / "labels.nii.gz")],
                 out, file=tmp_path / "labels.nii.gz")
    assert "mask is not binary" in err and "(3)" in err


def _rewritten(path, change, task="breast"):
    """A valid checkpoint of ``task`` whose loaded state ``change(state)`` rewrites, saved as ``path``."""
    import torch

    state = torch.load(tiny_checkpoint(path, task=task, size=24), weights_only=True)
    torch.save(change(state), path)
    return path


def _without(*keys):
    return lambda state: {k: v for k, v in state.items() if k not in keys}


def _with(**values):
    return lambda state: {**state, **values}


def _with_params(**values):
    return lambda state: {**state, "params": {**state["params"], **values}}


def _weights(fn):
    return lambda state: {**state, "model_state": {k: fn(v) for k, v in state["model_state"].items()}}


FORGED = {  # file name: (how a valid whole-breast checkpoint was edited, what the one-line error says)
    "no_weights.pt": (_without("model_state"), "not a checkpoint: missing model_state"),
    "no_task_no_params.pt": (_without("task", "params"), "not a checkpoint: missing task, params"),
    "kidney.pt": (_with(task="kidney"), "unknown task 'kidney' in checkpoint"),
    "relabelled.pt": (_with(task="lesion"), "checkpoint is for the 'lesion' task, but --scan needs a 'breast'"),
    "shapes.pt": (_weights(lambda v: v[..., :1] if v.ndim else v),
                  "checkpoint weights do not fit its model_config: size mismatch for "),
    "channels.pt": (lambda s: {**s, "model_config": {**s["model_config"], "in_channels": 6}},
                    "checkpoint weights do not fit its model_config: size mismatch for encoder.0.0.weight"),
    "nan_weights.pt": (_weights(lambda v: v * float("nan") if v.is_floating_point() else v),
                       "NaN or infinite"),
    "params_list.pt": (_with(params=[0.5, 24]), "params"),
    "size_text.pt": (_with_params(size="big"), "size"),
    "size_zero.pt": (_with_params(size=0), "size"),
    "threshold.pt": (_with(threshold=7.0), "stored threshold 7.0 is not a probability in (0, 1)"),
    "params_threshold.pt": (_with_params(threshold=7.0), "stored threshold 7.0 is not a probability in (0, 1)"),
}


@pytest.mark.parametrize("name", FORGED)
def test_forged_checkpoints_are_one_line_errors_naming_the_file(tmp_path, capsys, name):
    """Hand-edited or foreign checkpoints (keys missing, another or unknown task, weights that do not fit or are
    not finite, unusable params, a stored threshold of 7.0): one line naming the checkpoint, exit 1, nothing
    written, before any image is read."""
    change, problem = FORGED[name]
    scan, _, _ = phantom_like()
    (s,), affine = store([scan], "diag")
    save_nifti(s, affine, tmp_path / "scan.nii.gz")
    out = tmp_path / "out"
    ckpt = _rewritten(tmp_path / name, change)
    err = _error(capsys, ["--scan", str(tmp_path / "scan.nii.gz"), "--checkpoint_path", str(ckpt), "--out_dir",
                          str(out), "--device", "cpu"], out, file=ckpt)
    assert problem in err, err


@pytest.mark.parametrize("shape", [(176, 1, 34), (1, 40, 20), (48, 1, 20), (48, 40, 1)])
def test_one_voxel_thick_scans_are_one_line_errors(tmp_path, checkpoints, capsys, shape):
    """A scan one voxel thick along any axis (a 176x1x34 file once crashed the command) is not a 3D scan."""
    _, breast_ckpt = checkpoints
    thin = save_nifti(np.random.default_rng(0).uniform(0, 100, shape).astype(np.float32), np.eye(4),
                      tmp_path / "thin.nii.gz")
    out = tmp_path / "out"
    axis = shape.index(1)
    err = _error(capsys, ["--scan", str(thin), "--checkpoint_path", str(breast_ckpt), "--out_dir", str(out),
                          "--device", "cpu"], out, file=thin)
    assert f"scan shape {shape} has fewer than 4 voxels along axis {axis}" in err


@pytest.mark.parametrize("phase", [0, 2])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_one_voxel_thick_phases_are_one_line_errors(case_dir, checkpoints, tmp_path, capsys, phase, axis):
    """The same for a lesion case: a one-voxel-thick pre- or post-contrast phase is named."""
    folder, _ = case_dir
    lesion_ckpt, _ = checkpoints
    path = folder / f"{CASE}_{phase:04d}.nii.gz"
    img = nib.load(str(path))
    index = [slice(None)] * 3
    index[axis] = slice(0, 1)
    save_nifti(np.asarray(img.dataobj)[tuple(index)], img.affine, path)
    out = tmp_path / "out"
    err = _error(capsys, ["--phases_folder", str(folder), "--checkpoint_path", str(lesion_ckpt), "--out_dir",
                          str(out), "--device", "cpu"], out, file=path)
    assert f"fewer than 4 voxels along axis {axis}" in err


@pytest.mark.parametrize("foreground", [255, 2, 0.5, -1])
def test_lesion_truth_mask_must_be_binary(case_dir, checkpoints, tmp_path, capsys, foreground):
    """``--phases_folder`` with a ``--mask_path`` that is not 0/1 (the validate stage's rule for every mask)."""
    folder, mask = case_dir
    lesion_ckpt, _ = checkpoints
    img = nib.load(str(mask))
    bad = save_nifti(np.asarray(img.dataobj).astype(np.float32) * foreground, img.affine, tmp_path / "bad.nii.gz")
    out = tmp_path / "out"
    err = _error(capsys, ["--phases_folder", str(folder), "--mask_path", str(bad), "--checkpoint_path",
                          str(lesion_ckpt), "--out_dir", str(out), "--device", "cpu"], out, file=bad)
    assert "mask is not binary" in err and f"({foreground:g})" in err


def test_a_killed_runs_staging_folder_is_removed_on_start_and_a_live_runs_kept(tmp_path, checkpoints):
    """On start, before anything can fail: a run refused for its checkpoint removes the killed run's folder."""
    import fcntl
    import subprocess
    import sys

    lesion_ckpt, breast_ckpt = checkpoints
    scan, _, _ = phantom_like()
    (s,), affine = store([scan], "diag")
    save_nifti(s, affine, tmp_path / "scan.nii.gz")
    out = tmp_path / "out"
    killed, live = out / ".breastmri-infer-killed", out / ".breastmri-infer-live"
    for folder in (killed, live):
        folder.mkdir(parents=True)
        (folder / "scan_pred.nii.gz").write_bytes(b"half")
    # a live run in another process holds its folder's lock; a killed run's lock ended with its process
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time; "
                               "fd = os.open(os.path.join(sys.argv[1], '.breastmri.lock'), os.O_RDWR | os.O_CREAT); "
                               "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                               str(live)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["--scan", str(tmp_path / "scan.nii.gz"), "--checkpoint_path", str(lesion_ckpt), "--out_dir",
                     str(out), "--device", "cpu"]) == 1  # a lesion checkpoint: refused
        assert _files(out) == [".breastmri-infer-live"]
        assert main(["--scan", str(tmp_path / "scan.nii.gz"), "--checkpoint_path", str(breast_ckpt), "--out_dir",
                     str(out), "--device", "cpu"]) == 0
        assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == sorted([LOCK, ".breastmri-infer-live"])
    finally:
        holder.kill()
        holder.wait()
    fd = os.open(live / LOCK, os.O_RDWR)  # released with its process
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_outputs_are_listed_in_their_fixed_order(tmp_path, checkpoints, capsys):
    """The masks are written in the background while the rest is computed; the files are moved in, and printed,
    in one fixed order all the same."""
    _, breast_ckpt = checkpoints
    scan, breast, _ = phantom_like()
    (s, b), affine = store([scan, breast], "lps")
    save_nifti(s, affine, tmp_path / "Breast_MRI_008.nii.gz")
    save_nifti(b, affine, tmp_path / "truth.nii.gz")
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["--scan", str(tmp_path / "Breast_MRI_008.nii.gz"), "--mask_path", str(tmp_path / "truth.nii.gz"),
                 "--checkpoint_path", str(breast_ckpt), "--out_dir", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out.split()
    assert [p.rsplit("Breast_MRI_008_", 1)[1] for p in printed] == [
        "tumor.nii.gz", "features.csv", "pred.nii.gz", "prob.nii.gz", "overlay.png", "metrics.txt"]
    assert _files(out) == sorted(p.rsplit("/", 1)[1] for p in printed)  # no staging folder left


def test_a_failed_background_write_leaves_no_output(tmp_path, checkpoints, monkeypatch):
    import breastmri.inference.command as command

    _, breast_ckpt = checkpoints
    scan, _, _ = phantom_like()
    (s,), affine = store([scan], "diag")
    save_nifti(s, affine, tmp_path / "scan.nii.gz")

    def failing(array, affine, path, slope=None):
        if str(path).endswith("_prob.nii.gz"):
            raise OSError("disk full")
        return save_nifti(array, affine, path, slope)

    monkeypatch.setattr(command, "save_nifti", failing)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        main(["--scan", str(tmp_path / "scan.nii.gz"), "--checkpoint_path", str(breast_ckpt), "--out_dir", str(out),
              "--device", "cpu"])
    assert _files(out) == []


def test_probabilities_are_stored_as_scaled_uint16_levels_that_read_back_within_half_a_level(tmp_path):
    import SimpleITK as sitk

    from breastmri.data.io import load_volume
    from breastmri.inference.command import PROBABILITY_LEVELS, probability_levels

    rng = np.random.default_rng(0)
    prob = rng.random((20, 30, 10)).astype(np.float32)
    prob[0, 0, :3] = [0.0, 1.0, 0.5 / PROBABILITY_LEVELS * 0.99]  # the ends, and a value that rounds to 0
    levels, slope = probability_levels(prob)
    affine = np.diag([0.7, 0.8, 2.0, 1.0])
    save_nifti(levels, affine, tmp_path / "p.nii.gz", slope=slope)
    img = nib.load(str(tmp_path / "p.nii.gz"))
    assert img.get_data_dtype() == np.uint16 and np.allclose(img.affine, affine)
    half = 7.7e-6  # half a level, plus the float32 header slope's rounding
    for read in (np.asarray(img.dataobj), load_volume(tmp_path / "p.nii.gz").array,
                 sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "p.nii.gz"))).transpose(2, 1, 0)):
        assert read.shape == prob.shape and np.abs(read - prob).max() <= half
        assert read[0, 0, 0] == 0.0 and read[0, 0, 2] == 0.0 and abs(read[0, 0, 1] - 1.0) < 1e-6
    assert probability_levels(np.array([-0.1, 1.2], np.float32))[0].tolist() == [0, PROBABILITY_LEVELS]
