"""Fixtures shared by the test folders."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def params_file(tmp_path):
    """``params_file(section={key: value}, ...)``: the repository's params.yaml with those keys replaced, written
    to a temporary file (every stage config needs every key of its sections: there are no defaults)."""
    def write(**sections) -> Path:
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        for section, values in sections.items():
            params.setdefault(section, {}).update({k: (str(v) if isinstance(v, Path) else v)
                                                   for k, v in values.items()})
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        return path
    return write
