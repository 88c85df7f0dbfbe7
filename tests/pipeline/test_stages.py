"""Every stage of dvc.yaml is ``breastmri <stage> --report --sections ...``: its sections of params.yaml give
exactly the keys of the stage's config, its notebook declares the one parameter ``config``, and the stage
declares those sections (and the notebook) as its params and deps."""

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

from breastmri.pipeline.notebook import check_parameters
from breastmri.stages import STAGES as STAGE_MODULES

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
    """(notebook, sections, stage module) of a stage's ``breastmri <stage> --report --sections ...`` command."""
    args = shlex.split(stage["cmd"])
    assert args[0] == "breastmri" and args[1] in STAGE_MODULES and "--report" in args, stage["cmd"]
    module = importlib.import_module(f"breastmri.stages.{args[1]}")
    sections = args[args.index("--sections") + 1:]
    sections = sections[:next((i for i, a in enumerate(sections) if a.startswith("--")), len(sections))]
    return ROOT / module.NOTEBOOK, sections, module


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_sections_give_exactly_its_config_and_its_notebook_takes_it(name):
    notebook, sections, module = _command(STAGES[name])
    config = module.Config.from_params(ROOT / "params.yaml", sections)  # exactly the keys, each of its type
    assert set(config.as_dict()) == set(module.Config.keys())
    check_parameters(notebook)
    assert str(notebook.relative_to(ROOT)) in STAGES[name]["deps"]
    assert set(sections) == set(STAGES[name]["params"])


def test_every_notebook_is_a_stage():
    used = {_command(stage)[0].name for stage in STAGES.values()}
    assert {_command(stage)[2].__name__.rsplit('.', 1)[1] for stage in STAGES.values()} == set(STAGE_MODULES)
    assert used == {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}


@pytest.mark.parametrize("name", sorted(set(STAGES) - {"synthesize", "validate"}))
def test_every_stage_after_validate_depends_on_its_output(name):
    """So ``dvc repro <stage>`` on new data runs (and stops in) validation first."""
    validate_out = [next(iter(m)) for m in STAGES["validate"]["metrics"]]
    assert validate_out == ["reports/metrics/validation.json"]
    assert "reports/metrics/validation.json" in STAGES[name]["deps"]
