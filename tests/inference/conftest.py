import pytest
from inference_helpers import write_seed


@pytest.fixture
def seed_dataset(tmp_path):
    """A seed layout with inference scans in several storages and its truth record."""
    return write_seed(tmp_path)
