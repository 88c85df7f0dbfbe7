"""Early stopping: patience counts epochs without improvement; the state survives a resume."""

import math

import pytest

from breastmri.training.early_stopping import EarlyStopping


def test_stops_after_patience_epochs_without_improvement():
    es = EarlyStopping(patience=2)
    assert [es.step(v, e) for e, v in enumerate([0.9, 0.5, 0.7, 0.6], 1)] == [True, True, False, False]
    assert es.should_stop and es.best == 0.5 and es.best_epoch == 2


def test_min_delta_and_nan_do_not_count_as_improvement():
    es = EarlyStopping(patience=2, min_delta=0.1)
    es.step(1.0, 1)
    assert not es.step(0.95, 2) and not es.step(math.nan, 3) and es.should_stop


def test_state_round_trip():
    es = EarlyStopping(patience=4)
    es.step(0.3, 1), es.step(0.4, 2)
    again = EarlyStopping(patience=1)
    again.load_state_dict(es.state_dict())
    assert again.state_dict() == es.state_dict()
    with pytest.raises(ValueError):
        EarlyStopping(patience=0)
