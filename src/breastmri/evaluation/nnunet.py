"""The bridge to nnU-Net v2, the MAMA-MIA challenge's published anchor: a MAMA-MIA layout written as an nnU-Net v2
raw dataset (:func:`export_dataset`), and a folder of predicted masks scored as this project scores its own
(:func:`score_predictions`), so nnU-Net and this project are compared on the same cases by the same code.

The dataset follows nnU-Net v2's documented format (documentation/dataset_format.md)::

    <out_dir>/Dataset<ID>_<NAME>/            ID: three digits (1-999; custom datasets from 500 on)
        dataset.json                         channel_names, labels, numTraining, file_ending (nnU-Net's keys)
        imagesTr/<CASE>_<XXXX>.nii.gz        channel XXXX (0000, 0001, ...) = the XXXXth phase of the channel list
        labelsTr/<CASE>.nii.gz               the expert segmentation as uint8 0/1 (its own shape and affine)
        imagesTs/<CASE>_<XXXX>.nii.gz        the official test cases (train_test_splits.csv): images only
        export.json                          the source, the phases, the test cases, the zero-filled channels
                                             and the channels given the pre-contrast file's header

nnU-Net needs every channel of every case on one grid: a phase a case lacks is written as zeros on its
pre-contrast (``_0000``) file's header; a phase whose grid differs from the pre-contrast file's (shape, or the
affine by more than :data:`~breastmri.inference.dce.AFFINE_ATOL_MM`) is an error naming the file. A ``.nii.gz``
phase on exactly the pre-contrast file's affine and voxel sizes is copied byte for byte; a ``.nii`` one is
rewritten compressed by nibabel (its header, dtype and affine kept); one whose affine or voxel sizes differ within
the tolerance gets the pre-contrast file's header (nnU-Net's SimpleITK reader, named in ``dataset.json``, refuses
channels whose voxel sizes differ at all); a phase of a DICOM series is written as float32 on the header of its
pre-contrast phase. nnU-Net makes its own 5-fold split of ``imagesTr``.

Scoring: each case's mask ``<CASE>.nii.gz`` (nnU-Net's output naming) against
``segmentations/expert/<CASE>.nii.gz`` on the expert mask's grid, with the lesion stage's scores
(:func:`breastmri.inference.lesion_cases.lesion_scores`: Dice, HD95 in mm, the challenge's per-case scores) and
summaries (per collection: the case id before its last ``_``, as MAMA-MIA's ``DUKE_001``), and the challenge's
performance, fairness and ranking (:func:`~breastmri.inference.lesion_cases.challenge_summary`). A case without a
prediction is scored as an empty one and listed.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from tqdm import tqdm

from breastmri.data.atomic import atomic_dir, remove_stale_temps
from breastmri.data.dicom import DicomPhase
from breastmri.data.errors import DataError
from breastmri.data.io import Volume, load_volume, strip_nifti_suffix, write_json
from breastmri.data.layouts import MamaMiaLayout, channel_entries, check_phase_list, phase_name
from breastmri.data.validation import check_binary, check_scan
from breastmri.inference.dce import same_geometry

FILE_ENDING = ".nii.gz"
READER_WRITER = "SimpleITKIO"
LABELS = {"background": 0, "tumor": 1}
EXPORT_RECORD = "export.json"
CASE_SETS = ("all", "train", "test")
_DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """``Dataset<ID>_<NAME>``, nnU-Net's name of a raw dataset folder (ID zero-padded to three digits)."""
    if not 1 <= dataset_id <= 999:
        raise DataError(None, f"an nnU-Net dataset id is 1 to 999 (custom datasets from 500 on), got {dataset_id}")
    if not _DATASET_NAME.fullmatch(name):
        raise DataError(None, f"a dataset name holds letters, digits, '_' and '-' only, got {name!r}")
    return f"Dataset{dataset_id:03d}_{name}"


def export_dataset(mamamia_root: str | Path, out_dir: str | Path, *, dataset_id: int = 501, name: str = "MAMAMIA",
                   phases: Sequence[int], overwrite: bool = False, progress: bool = True) -> dict:
    """Write the layout's cases as ``<out_dir>/Dataset<ID>_<NAME>/`` (see the module docstring), the phases
    ``phases`` (e.g. the lesion model's channel list) as channels 0, 1, ... in that order; the folder appears only
    once complete. An existing folder is an error unless ``overwrite``. Returns what ``export.json`` records, with the
    folder."""
    layout = MamaMiaLayout(mamamia_root)
    folder = Path(out_dir) / dataset_folder_name(dataset_id, name)
    phases = check_phase_list(phases, "phases")
    if folder.exists() and not overwrite:
        raise DataError(folder, "the dataset folder exists (replace it with overwrite, --overwrite)")
    cases = layout.cases()
    split = layout.official_split() or {}
    test = [case for case in cases if split.get(case) == "test"]
    zero_filled: dict[str, list[int]] = {}
    header_replaced: dict[str, list[int]] = {}
    remove_stale_temps(folder)
    with atomic_dir(folder) as tmp:
        for case in tqdm(cases, desc="export nnU-Net", unit="case", disable=not progress or None):
            is_test = split.get(case) == "test"
            pre, filled, replaced = _write_channels(layout, case, phases, tmp / ("imagesTs" if is_test else "imagesTr"))
            if filled:
                zero_filled[case] = filled
            if replaced:
                header_replaced[case] = replaced
            if not is_test:
                _write_label(layout.lesion_mask(case), pre, tmp / "labelsTr" / f"{case}{FILE_ENDING}")
        n_training = len(cases) - len(test)
        record = {"source": str(layout.root), "phases": phases, "n_training": n_training, "test_cases": test,
                  "official_split": bool(split), "zero_filled": zero_filled,
                  "pre_contrast_header": header_replaced}
        write_json(_dataset_json(name, phases, n_training, len(test), sum(map(len, zero_filled.values()))),
                   tmp / "dataset.json")
        write_json(record, tmp / EXPORT_RECORD)
    return {"dataset": str(folder), **record}


def _dataset_json(name: str, phases: list[int], n_training: int, n_test: int, n_zero_filled: int) -> dict:
    return {"channel_names": {str(c): phase_name(p) for c, p in enumerate(phases)}, "labels": LABELS,
            "numTraining": n_training, "file_ending": FILE_ENDING, "overwrite_image_reader_writer": READER_WRITER,
            "name": name,
            "description": (f"MAMA-MIA DCE-MRI, phases {', '.join(f'_{p:04d}' for p in phases)} as channels "
                            f"{', '.join(f'{c:04d}' for c in range(len(phases)))}; label 1: the expert tumour "
                            f"segmentation; {n_test} official test cases in imagesTs; {n_zero_filled} channel "
                            f"file(s) of missing phases zero-filled ({EXPORT_RECORD} lists them)")}


def _write_channels(layout: MamaMiaLayout, case: str, phases: list[int],
                    images: Path) -> tuple[Volume, list[int], list[int]]:
    """Write the case's channels into ``images``; return its pre-contrast volume, the zero-filled channels and the
    channels given the pre-contrast file's header."""
    entries = layout.phase_paths(case)
    pre = load_volume(entries[0], case)
    check_scan(pre, "phase")
    header = _header(entries[0], pre)
    filled, replaced = [], []
    images.mkdir(parents=True, exist_ok=True)
    for channel, (phase, entry) in enumerate(zip(phases, channel_entries(entries, phases))):
        target = images / f"{case}_{channel:04d}{FILE_ENDING}"
        if entry is None:
            _save(np.zeros(pre.shape, header.get_data_dtype()), header, target)
            filled.append(channel)
            continue
        volume = pre if phase == 0 else _phase_on_grid(entry, case, pre, entries[0])
        if isinstance(entry, DicomPhase):
            _save(volume.array, header, target)
        elif np.array_equal(volume.affine, pre.affine) and volume.header_zooms == pre.header_zooms:
            if entry.name.endswith(FILE_ENDING):
                shutil.copyfile(entry, target)
            else:
                nib.save(nib.load(entry), target)
        else:
            _save(np.asanyarray(nib.load(entry).dataobj), header, target)  # stored values (scaled if the file is)
            replaced.append(channel)
    return pre, filled, replaced


def _phase_on_grid(entry: Path | DicomPhase, case: str, pre: Volume, pre_entry: Path | DicomPhase) -> Volume:
    """The phase read strictly; an error naming it unless it lies on the pre-contrast phase's grid."""
    volume = load_volume(entry, case)
    check_scan(volume, "phase")
    if not same_geometry(volume, pre):
        raise DataError(entry, f"phase grid differs from {pre_entry.name}'s: shape {volume.shape} vs {pre.shape}"
                               + (" (affines differ)" if volume.shape == pre.shape else "")
                               + ": nnU-Net needs every channel of a case on one grid")
    return volume


def _header(entry: Path | DicomPhase, volume: Volume) -> nib.Nifti1Header:
    """The NIfTI header of a phase file, or one for a DICOM phase's volume (as :func:`~breastmri.data.io.save_nifti`
    writes it)."""
    if isinstance(entry, DicomPhase):
        image = nib.Nifti1Image(volume.array, volume.affine)
        image.header.set_xyzt_units("mm")
        return image.header
    return nib.load(entry).header


def _save(array: np.ndarray, header: nib.Nifti1Header, path: Path) -> None:
    """``array`` with its own dtype on ``header``'s geometry (its qform, sform and voxel sizes: what SimpleITK
    reads)."""
    image = nib.Nifti1Image(array, None, header=header)
    image.set_data_dtype(array.dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)


def _write_label(path: Path, pre: Volume, target: Path) -> None:
    """The expert segmentation as uint8 0/1 on its own header; it must lie on the pre-contrast phase's grid."""
    truth = _expert_mask(path, pre.patient_id)
    if not same_geometry(truth, pre):
        raise DataError(path, f"mask grid (shape {truth.shape}) differs from the pre-contrast phase's "
                              f"{pre.path.name if pre.path else ''} (shape {pre.shape})")
    _save(truth.array.astype(np.uint8), nib.load(path).header, target)


def _expert_mask(path: Path, case: str) -> Volume:
    truth = load_volume(path, case)
    check_binary(truth, "mask")
    return truth


def collection(case: str) -> str:
    """The collection a MAMA-MIA case comes from: its id before the last ``_`` (``ISPY1_1001`` -> ``ISPY1``)."""
    return case.rsplit("_", 1)[0]


def score_predictions(mamamia_root: str | Path, predictions: str | Path, out_json: str | Path, *,
                      cases: str = "all", progress: bool = True) -> dict:
    """Score the masks ``<CASE>.nii.gz`` of ``predictions`` against the layout's expert segmentations (see the
    module docstring) over ``cases``: every case, or the official split's ``train`` or ``test`` cases. Writes the
    metrics to ``out_json`` and the per-case table beside it (``.csv``); returns the metrics.

    A prediction must lie on its expert mask's grid and hold only 0 and 1; one named for a case the layout lacks
    is an error (a wrong folder), one of a case outside ``cases`` is left out.
    """
    # lazily: the inference modules import torch, which the export does not need
    from breastmri.inference.breast_cases import write_table
    from breastmri.inference.lesion_cases import challenge_summary, lesion_scores, score_groups

    layout, predictions, out_json = MamaMiaLayout(mamamia_root), Path(predictions), Path(out_json)
    ids = _case_set(layout, cases)
    if not predictions.is_dir():
        raise DataError(predictions, "predictions folder is missing")
    found = {strip_nifti_suffix(p.name): p for p in sorted(predictions.glob(f"*{FILE_ENDING}"))}
    unknown = sorted(set(found) - set(layout.cases()))
    if unknown:
        raise DataError(found[unknown[0]], f"no case {unknown[0]} in {layout.image_dir}"
                                           + (f" ({len(unknown)} such predictions)" if len(unknown) > 1 else ""))
    rows: dict[str, dict] = {}
    for case in tqdm(ids, desc="score", unit="case", disable=not progress or None):
        truth = _expert_mask(layout.lesion_mask(case), case)
        path = found.get(case)
        prediction = np.zeros(truth.shape, np.uint8) if path is None else _prediction(path, truth)
        rows[case] = {"cohort": collection(case), "predicted": path is not None,
                      "pred_voxels": int(prediction.sum()),
                      **lesion_scores(prediction, truth.array.astype(np.uint8), truth.spacing)}
    per_case = pd.DataFrame.from_dict(rows, orient="index")
    per_case.index.name = "case_id"
    missing = [case for case in ids if not rows[case]["predicted"]]
    metrics = {"predictions": str(predictions), "cases": cases, "n_cases": len(ids), "n_missing": len(missing),
               "missing": missing, **score_groups(per_case), "challenge": challenge_summary(per_case, layout),
               "per_case": rows}
    write_json(metrics, out_json)
    write_table(per_case, out_json.with_suffix(".csv"))
    return metrics


def _case_set(layout: MamaMiaLayout, cases: str) -> list[str]:
    if cases not in CASE_SETS:
        raise DataError(None, f"cases must be one of {CASE_SETS}, got {cases!r}")
    if cases == "all":
        return layout.cases()
    split = layout.official_split()
    if split is None:
        raise DataError(layout.split_path, f"file not found: cases {cases!r} are those of the official split")
    ids = sorted(case for case, part in split.items() if part == cases)
    if not ids:
        raise DataError(layout.split_path, f"the official split holds no {cases} case")
    return ids


def _prediction(path: Path, truth: Volume) -> np.ndarray:
    prediction = load_volume(path, truth.patient_id)
    if not same_geometry(prediction, truth):
        raise DataError(path, f"prediction grid differs from the expert segmentation {truth.path.name}'s: shape "
                              f"{prediction.shape} vs {truth.shape}"
                              + (" (affines differ)" if prediction.shape == truth.shape else ""))
    check_binary(prediction, "prediction")
    return prediction.array.astype(np.uint8)
