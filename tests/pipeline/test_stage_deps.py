"""Every package module a stage's notebook imports (directly or through other modules, lazy imports inside
functions included) lies under one of the stage's ``deps:`` in dvc.yaml, so editing it re-runs the stage."""

import ast
from pathlib import Path

import nbformat
import pytest
from test_stages import STAGES, _command

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(source: str) -> set[str]:
    """Names of breastmri modules ``source`` imports (``from a import b`` counts ``a.b`` when it is a module)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("breastmri")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("breastmri"):
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names if _module_file(f"{node.module}.{a.name}")}
    return names


def _is_empty(path: Path) -> bool:
    """A package ``__init__`` holding nothing but its docstring (and ``__version__``, which no output records)."""
    def inert(node):
        return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) or (
            isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"])
    return path.name == "__init__.py" and all(inert(n) for n in ast.parse(path.read_text()).body)


def imported_files(notebook: Path) -> set[Path]:
    """Every package source file executing the notebook's code cells imports, transitively."""
    cells = [c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    code = "\n".join(line for cell in cells for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))
    return imported_files_of(code)


def imported_files_of(code: str) -> set[Path]:
    """Every package source file ``code`` imports, transitively."""
    pending, seen = list(_imported(code)), set()
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for k in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            path = _module_file(".".join(parts[:k]))
            if path is not None and path not in seen:
                seen.add(path)
                pending += _imported(path.read_text())
    return {p for p in seen if not _is_empty(p)}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_imported_module_is_a_declared_dependency(name):
    notebook = _command(STAGES[name])[0]
    deps = [str(d).rstrip("/") for d in STAGES[name]["deps"]]
    missing = sorted(str(f.relative_to(ROOT)) for f in imported_files(notebook)
                     if not any(str(f.relative_to(ROOT)) == d or str(f.relative_to(ROOT)).startswith(d + "/")
                                for d in deps))
    assert not missing, f"{name}: add to deps: {', '.join(missing)}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_the_command_and_runner_that_write_the_notebook_and_html_are_dependencies(name):
    """The stage's executed notebook and HTML are outputs of ``breastmri.cli`` and ``breastmri.pipeline.notebook``
    (and what they import): changing how they are written must re-run the stage."""
    deps = [str(d).rstrip("/") for d in STAGES[name]["deps"]]
    runner = [ROOT / "src/breastmri/cli.py", ROOT / "src/breastmri/pipeline/notebook.py"]
    files = set(runner).union(*(imported_files_of(path.read_text()) for path in runner))
    missing = sorted(str(f.relative_to(ROOT)) for f in files
                     if not any(str(f.relative_to(ROOT)) == d or str(f.relative_to(ROOT)).startswith(d + "/")
                                for d in deps))
    assert not missing, f"{name}: add to deps: {', '.join(missing)}"


def test_the_finder_sees_imports_inside_functions_and_submodules_named_in_from_imports():
    source = ("import os\nfrom breastmri.data import io\n\n"
              "def f():\n    from breastmri.inference.dce import BreastGuide\n    import breastmri.model.unet\n")
    assert _imported(source) == {"breastmri.data", "breastmri.data.io", "breastmri.inference.dce",
                                 "breastmri.model.unet"}
