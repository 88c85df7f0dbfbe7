"""Every stage of dvc.yaml runs a notebook whose declared parameters are exactly its params.yaml sections,
and declares those sections (and the notebook) as its params and deps."""

import shlex
from pathlib import Path

import pytest
import yaml

from breastmri.pipeline.notebook import check_parameters
from breastmri.pipeline.params import load_params, merged_sections

ROOT = Path(__file__).resolve().parents[2]


def _stages():
    """(name, stage) for every stage, ``foreach`` expanded with ``${item}`` substituted."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        if "foreach" in stage:
            for item in stage["foreach"]:
                text = yaml.safe_dump(stage["do"]).replace("${item}", item)
                yield f"{name}@{item}", yaml.safe_load(text)
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
