"""environment.yml, the Makefile and pyproject.toml describe the same installation."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]


def _pip_lines():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return env, pip


def test_conda_python_satisfies_requires_python():
    env, _ = _pip_lines()
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python.split("=")[1] + ".0" in SpecifierSet(requires)


def test_environment_installs_the_package_with_test_extras():
    _, pip = _pip_lines()
    assert "-e .[test]" in pip
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "test" in extras


def test_torch_pin_is_the_same_everywhere_and_allowed_by_pyproject():
    _, pip = _pip_lines()
    env_pin = next(line for line in pip if line.startswith("torch"))
    make_pin = re.search(r"^TORCH_PIN := (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert env_pin == make_pin == "torch==2.13.0"
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_spec = next(d for d in deps if d.startswith("torch"))
    assert "2.13.0" in SpecifierSet(torch_spec[len("torch"):])


def test_environment_lists_nothing_pyproject_does_not_know():
    _, pip = _pip_lines()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[ ]", d)[0].lower() for d in deps}
    for line in pip:
        if not line.startswith("-e"):
            assert re.split(r"[<>=!~\[ ]", line)[0].lower() in names
