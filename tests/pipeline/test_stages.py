"""Every stage of dvc.yaml runs a notebook whose declared parameters are exactly its params.yaml sections,
and declares those sections (and the notebook) as its params and deps."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

from breastmri.pipeline.notebook import check_parameters
from breastmri.pipeline.params import load_params, merged_sections

ROOT = Path(__file__).resolve().parents[2]


def _expand(do: dict, key: str, item) -> dict:
    """``do`` with DVC's ``${key}``, ``${item}`` and ``${item.<field>}`` substituted."""
    text = yaml.safe_dump(do).replace("${key}", key)
    if isinstance(item, dict):
        text = re.sub(r"\$\{item\.(\w+)\}", lambda m: str(item[m.group(1)]), text)
    else:
        text = text.replace("${item}", str(item))
    assert "${key}" not in text and "${item" not in text, text
    return yaml.safe_load(text)


def _stages():
    """(name, stage) for every stage, ``foreach`` (list or mapping) expanded."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        if "foreach" in stage:
            foreach = stage["foreach"]
            pairs = foreach.items() if isinstance(foreach, dict) else ((item, item) for item in foreach)
            for key, item in pairs:
                yield f"{name}@{key}", _expand(stage["do"], key, item)
        else:
            yield name, stage


STAGES = dict(_stages())


def _command(stage):
    args = shlex.split(stage["cmd"])
    assert args[0] == "breastmri-run-notebook"
    sections = args[args.index("--sections") + 1:]
    sections = sections[:next((i for i, a in enumerate(sections) if a.startswith("--")), len(sections))]
    return ROOT / args[1], sections


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_notebook_declares_exactly_its_sections(name):
    notebook, sections = _command(STAGES[name])
    check_parameters(notebook, merged_sections(load_params(ROOT / "params.yaml"), sections))
    assert str(notebook.relative_to(ROOT)) in STAGES[name]["deps"]
    assert set(sections) == set(STAGES[name]["params"])


def test_every_notebook_is_a_stage():
    used = {_command(stage)[0].name for stage in STAGES.values()}
    assert used == {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}


@pytest.mark.parametrize("name", sorted(set(STAGES) - {"synthesize", "validate"}))
def test_every_stage_after_validate_depends_on_its_output(name):
    """So ``dvc repro <stage>`` on new data runs (and stops in) validation first."""
    validate_out = [next(iter(m)) for m in STAGES["validate"]["metrics"]]
    assert validate_out == ["reports/metrics/validation.json"]
    assert "reports/metrics/validation.json" in STAGES[name]["deps"]
