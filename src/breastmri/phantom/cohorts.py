"""Cohorts of the phantom, as configured in params.yaml (``synthesize.seed_cohorts``, ``synthesize.mamamia_cohorts``):
validation with errors that name the offending entry, and the deterministic split of patients among cohorts.

Seed layout, per cohort: ``share`` (of the training and of the inference patients; the shares sum to 1),
``affine`` (``seed``: the seed data's diag convention with planted scan defects; ``scanner``: an affine that
describes the anatomy), ``contrast`` (``fat_suppressed`` | ``t1`` | ``inverted`` | ``dark_fat`` | ``random``: drawn
per case), ``symmetric`` (breasts of nearly equal size) and ``acquisition`` (``phantom`` | ``duke``: axial,
bilateral; ``sagittal``: the breast with the lesion and a few cm of chest wall in thick left-right slices, as the
I-SPY1 and NACT exams; ``sagittal_slab``: the same with a slab narrower than the breast, cut at both its left-right
edges, as the real NACT exams' slabs; neither has lungs or liver for the anatomy's head-foot decision, so give them
``affine: scanner`` and a dataset whose affines are trusted, as the transfer stage does).
MAMA-MIA layout, per real cohort (DUKE, ISPY1, ISPY2, NACT): ``view`` (``axial`` | ``sagittal``), ``bilateral``,
``orientation`` (the stored axis codes, e.g. LPS; PIR for sagittal NACT files), ``phases`` (``[low, high]``: each
case acquires a number of DCE phases drawn uniformly from this range, pre-contrast included, as the real cohorts'
``num_phases``), ``fov`` (``body``: the whole axial cross-section; ``breast``: the breast and a few cm of chest
wall, as the sagittal I-SPY1 and NACT exams; ``slab``: that one narrowed into the breast at both sides) and
``lesion_scale`` (times the lesion diameter of the clinical
draw: the neoadjuvant trials enrolled tumours of 3 cm and more, DUKE's surgical cohort smaller ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from breastmri.data.errors import DataError
from breastmri.phantom.anatomy import FIELDS_OF_VIEW, Style
from breastmri.phantom.geometry import Grid
from breastmri.phantom.render import CONTRAST_NAMES
from breastmri.phantom.storage import Storage, check_axis_codes, scanner_storage

SEED_KEYS = ("share", "affine", "contrast", "symmetric", "acquisition")
AFFINES = ("seed", "scanner")
#: seed-layout acquisition -> its grid (:data:`geometry.ACQUISITIONS`) and field of view (:data:`FIELDS_OF_VIEW`)
SEED_ACQUISITIONS = {"phantom": ("phantom", "body"), "duke": ("duke", "body"), "sagittal": ("sagittal", "breast"),
                     "sagittal_slab": ("sagittal", "slab")}
MAMAMIA_KEYS = ("view", "bilateral", "orientation", "phases", "fov", "lesion_scale")
MIN_PHASES = 2  # a DCE: the pre-contrast phase and at least one post-contrast phase
LESION_SCALE_RANGE = (0.5, 3.0)
VIEWS = {"axial": ("phantom", ("S", "I")), "sagittal": ("sagittal", ("L", "R"))}  # grid, codes of stored axis 2


@dataclass(frozen=True)
class SeedCohort:
    """One seed-layout cohort: its name, share of the patients, affine convention and look."""

    name: str
    share: float
    affine: str
    style: Style


@dataclass(frozen=True)
class MamaMiaCohort:
    """How the cases of one real MAMA-MIA cohort are acquired and stored."""

    name: str
    view: str
    bilateral: bool
    orientation: str
    phases: tuple[int, int]  # fewest and most DCE phases of a case
    fov: str = "body"
    lesion_scale: float = 1.0

    @property
    def style(self) -> Style:
        return Style(acquisition=VIEWS[self.view][0], bilateral=self.bilateral, fov=self.fov,
                     lesion_scale=self.lesion_scale)

    def storage(self, grid: Grid) -> Storage:
        return scanner_storage(grid.spacing, grid.shape, self.orientation)


def _where(section: str, name: str = "") -> str:
    return f"synthesize.{section}" + (f".{name}" if name else "")


def _mapping(value, where: str, keys: Sequence[str] | None = None) -> dict:
    if not isinstance(value, dict) or not value:
        raise DataError(None, f"{where}: expected a non-empty mapping, got {value!r}")
    if keys is None:
        return value
    unknown, missing = sorted(map(str, set(value) - set(keys))), sorted(set(keys) - set(value))
    problems = ([f"unknown key(s) {', '.join(unknown)}"] if unknown else []) + (
        [f"missing key(s) {', '.join(missing)}"] if missing else [])
    if problems:
        raise DataError(None, f"{where}: {'; '.join(problems)} (keys: {', '.join(keys)})")
    return value


def _choice(value, choices: Sequence[str], where: str) -> str:
    if value not in choices:
        raise DataError(None, f"{where}: {value!r} is not one of {', '.join(choices)}")
    return str(value)


def _flag(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise DataError(None, f"{where}: expected true or false, got {value!r}")
    return value


def parse_orientation(codes, view: str, where: str) -> str:
    """Stored axis codes of a stack of ``view`` slices (stored axis 2 across the slices)."""
    try:
        codes = check_axis_codes(codes)
    except ValueError as exc:
        raise DataError(None, f"{where}: {exc}") from None
    if codes[2] not in VIEWS[view][1]:
        raise DataError(None, f"{where}: stored axis 2 of a {view} stack points {' or '.join(VIEWS[view][1])}, "
                              f"not {codes[2]} ({codes!r})")
    return codes


def parse_seed_cohorts(config: dict, duke_matrix: int) -> list[SeedCohort]:
    """The validated ``seed_cohorts`` mapping (name -> settings), in its order."""
    cohorts = []
    for name, entry in _mapping(config, _where("seed_cohorts")).items():
        where = _where("seed_cohorts", name)
        entry = _mapping(entry, where, SEED_KEYS)
        share = entry["share"]
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise DataError(None, f"{where}.share: expected a number in [0, 1], got {share!r}")
        grid, fov = SEED_ACQUISITIONS[_choice(entry["acquisition"], list(SEED_ACQUISITIONS), f"{where}.acquisition")]
        style = Style(acquisition=grid, contrast=_choice(entry["contrast"], CONTRAST_NAMES, f"{where}.contrast"),
                      symmetric=_flag(entry["symmetric"], f"{where}.symmetric"), duke_matrix=duke_matrix,
                      bilateral=fov == "body", fov=fov)
        cohorts.append(SeedCohort(str(name), float(share), _choice(entry["affine"], AFFINES, f"{where}.affine"),
                                  style))
    total = sum(c.share for c in cohorts)
    if abs(total - 1.0) > 1e-6:
        raise DataError(None, f"{_where('seed_cohorts')}: the shares sum to {total:g}, not 1")
    return cohorts


def _phase_range(value, where: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2 \
            or any(isinstance(v, bool) or not isinstance(v, int) for v in value) \
            or not MIN_PHASES <= value[0] <= value[1]:
        raise DataError(None, f"{where}: expected [low, high], whole numbers of phases with {MIN_PHASES} <= low <= "
                              f"high, got {value!r}")
    return int(value[0]), int(value[1])


def parse_mamamia_cohorts(config: dict, names: Sequence[str]) -> dict[str, MamaMiaCohort]:
    """The validated ``mamamia_cohorts`` mapping; it must describe exactly the cohorts ``names``."""
    config = _mapping(config, _where("mamamia_cohorts"), names)
    cohorts = {}
    for name in names:
        where = _where("mamamia_cohorts", name)
        entry = _mapping(config[name], where, MAMAMIA_KEYS)
        view = _choice(entry["view"], tuple(VIEWS), f"{where}.view")
        scale = entry["lesion_scale"]
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) \
                or not LESION_SCALE_RANGE[0] <= scale <= LESION_SCALE_RANGE[1]:
            raise DataError(None, f"{where}.lesion_scale: expected a number in [{LESION_SCALE_RANGE[0]:g}, "
                                  f"{LESION_SCALE_RANGE[1]:g}], got {scale!r}")
        cohorts[name] = MamaMiaCohort(name, view, _flag(entry["bilateral"], f"{where}.bilateral"),
                                      parse_orientation(entry["orientation"], view, f"{where}.orientation"),
                                      _phase_range(entry["phases"], f"{where}.phases"),
                                      _choice(entry["fov"], FIELDS_OF_VIEW, f"{where}.fov"), float(scale))
    return cohorts


def assign(rng: np.random.Generator, n: int, cohorts: Sequence[SeedCohort], minimum: int = 2) -> list[str]:
    """The cohort of each of ``n`` patients: every cohort with a positive share gets ``minimum`` patients
    when ``n`` allows (else as many as all can get alike), the rest go by share (largest shortfall first),
    in an order shuffled by ``rng``."""
    shares = np.array([c.share for c in cohorts])
    positive = shares > 0
    counts = np.where(positive, min(minimum, n // int(positive.sum())), 0)
    target = shares / shares.sum() * n
    while counts.sum() < n:
        counts[int(np.argmax(np.where(positive, target - counts, -np.inf)))] += 1
    return [str(name) for name in rng.permutation(np.repeat([c.name for c in cohorts], counts))]
