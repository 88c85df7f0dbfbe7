"""Fixtures for the slice tests."""

from pathlib import Path

import pytest

from .synth import make_mamamia_layout, make_seed_layout


@pytest.fixture
def seed_root(tmp_path) -> Path:
    shapes = [(24, 20, 5), (19, 27, 4), (16, 16, 3), (21, 30, 4), (25, 25, 6)]
    return make_seed_layout(tmp_path / "oriented", shapes)


@pytest.fixture
def mamamia_root(tmp_path) -> Path:
    return make_mamamia_layout(tmp_path / "mamamia", n_cases=3, missing={1: [3], 2: [2, 4, 5]})
