"""Lesion slice selection rules and the global 1:1 balance."""

import numpy as np

from breastmri.slices.selection import (CaseCandidates, balance, breast_block, case_candidates,
                                        distance_to_lesion, run_containing, tissue_ratios)

RULES = {"min_lesion_px": 20, "neg_exclusion_slices": 6, "neg_min_tissue_ratio": 0.3}


def test_distance_and_runs():
    lesion = np.zeros(10, bool)
    lesion[[3, 4]] = True
    assert distance_to_lesion(lesion).tolist() == [3, 2, 1, 0, 0, 1, 2, 3, 4, 5]
    assert np.all(np.isinf(distance_to_lesion(np.zeros(4, bool))))
    flags = np.array([1, 1, 0, 1, 1, 1, 0, 1], bool)
    assert np.flatnonzero(run_containing(flags, 4)).tolist() == [3, 4, 5]
    assert not run_containing(flags, 2).any()


def test_candidate_rules():
    n = 60
    stored = np.zeros(n, int)
    stored[20:26] = [5, 25, 40, 40, 25, 19]        # 4 slices with >= 20 stored lesion pixels
    lesion_area = stored * 3                         # 1 mm volume: any voxel makes a lesion slice
    tissue = np.full(n, 0.8)
    tissue[:3] = 0.0                                 # air: never negatives
    tissue[45:48] = 0.1                              # tissue-poor gap: slices 48.. are another block
    c = case_candidates("X", stored, lesion_area, tissue, **RULES)
    assert c.positives.tolist() == [21, 22, 23, 24]
    expected = [k for k in range(3, 45) if min(abs(k - l) for l in range(20, 26)) >= 6]
    assert c.negatives.tolist() == expected           # far, tissue-rich, same block as the lesion
    assert breast_block(tissue, lesion_area, 0.3).sum() == 42


def _cands(case, n_pos, n_neg):
    return CaseCandidates(case, np.arange(n_pos), np.arange(100, 100 + n_neg), 200)


def test_balance_keeps_positives_and_compensates_across_cases():
    cands = [_cands("A", 10, 4), _cands("B", 5, 30), _cands("C", 3, 3), _cands("D", 0, 8)]
    chosen = balance(cands, seed=0)
    pos = sum(len(s.positives) for s in chosen.values())
    neg = sum(len(s.negatives) for s in chosen.values())
    assert pos == 18 and neg == 18                               # all positives kept, exactly 1:1
    assert len(chosen["A"].negatives) == 4                        # A gave all it had
    assert len(chosen["B"].negatives) >= 5 and len(chosen["C"].negatives) == 3   # 1:1 where possible
    for c in cands:                                               # negatives come from the candidates
        assert set(chosen[c.case].negatives) <= set(c.negatives.tolist())
    assert {k: (v.positives.tolist(), v.negatives.tolist()) for k, v in balance(cands, 0).items()} == \
        {k: (v.positives.tolist(), v.negatives.tolist()) for k, v in chosen.items()}  # seeded


def test_balance_drops_positives_only_when_globally_short():
    chosen = balance([_cands("A", 10, 2), _cands("B", 6, 3)], seed=1)
    pos = sum(len(s.positives) for s in chosen.values())
    neg = sum(len(s.negatives) for s in chosen.values())
    assert pos == neg == 5


def test_tissue_ratios_separate_air_from_body():
    rng = np.random.default_rng(0)
    vol = rng.normal(0, 1, (30, 30, 10)).astype(np.float32)
    vol[5:25, 5:25, 3:8] += 100.0     # body in slices 3..7
    vol[5:15, 5:25, 8] += 100.0       # half the area in slice 8
    ratios = tissue_ratios(vol)
    assert np.allclose(ratios[3:8], 1.0) and np.all(ratios[[0, 1, 2, 9]] == 0) and abs(ratios[8] - 0.5) < 1e-9
    assert np.all(tissue_ratios(np.zeros((4, 4, 3))) == 0)
