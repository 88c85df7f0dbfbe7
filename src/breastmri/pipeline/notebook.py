"""Execute one stage notebook with papermill, strictly and reproducibly.

* A stage notebook declares one parameter, ``config``: the stage's ``params.yaml`` sections as one mapping,
  which the notebook turns into its stage's frozen config (:mod:`breastmri.stages`; a missing, unknown or
  mistyped key is an error naming it). ``breastmri <stage> --report`` checks the config before starting.
* The executed notebook goes to ``reports/notebooks/`` and an HTML rendering to ``reports/html/``, both
  written atomically; a failed run leaves neither (its notebook is kept under ``reports/failed/``).
* Execution timestamps, durations and random cell ids are stripped, so a forced re-run produces
  byte-identical files.
* The HTML is the reading copy: code is hidden, and the empty ``config`` cell and papermill's injected cell are
  replaced by one collapsed table of the values the stage ran with, under the notebook's title. A cell's console
  log (its stderr: epoch lines, progress, warnings) follows the cell's other outputs, so the summary that the cell
  running the stage displays opens the report.
"""

from __future__ import annotations

import copy
import html
import json
import os
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

from breastmri.data.atomic import atomic_path, remove_stale_temps, write_text_atomic
from breastmri.data.errors import DataError


class StageError(DataError):
    """A stage notebook failed while running (names the notebook and the kept executed copy)."""


PARAMETER = "config"  # the one parameter every stage notebook declares


def check_parameters(notebook: Path) -> None:
    """A stage notebook declares exactly one parameter, ``config``."""
    declared = sorted(papermill.inspect_notebook(str(notebook)))
    if declared != [PARAMETER]:
        raise DataError(notebook, f"a stage notebook declares one parameter, '{PARAMETER}' (declared: "
                                  f"{', '.join(declared) or 'none'})")


def strip_volatile(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove timestamps, durations and random ids, and merge each cell's consecutive writes to one stream into
    one output (nbconvert's :class:`CoalesceStreamsPreprocessor`: how the kernel batched the writes depends on
    their timing: a training resumed after its last epoch writes its log at once, the unbroken run an epoch at a
    time), so identical runs give identical files."""
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    papermill_meta = nb.metadata.get("papermill", {})
    nb.metadata["papermill"] = {"parameters": papermill_meta.get("parameters", {})}
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:03d}"
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return nb


PARAMETER_TAGS = {"parameters", "injected-parameters"}


def parameters_block(values: dict, source: str) -> str:
    """The values a stage ran with, as one collapsed HTML table (one click away, so the stage's summary and key
    figure fill the report's first screen)."""
    rows = "".join(f"<tr><td><code>{html.escape(key)}</code></td>"
                   f"<td><code>{html.escape(json.dumps(value, sort_keys=True))}</code></td></tr>"
                   for key, value in values.items())
    return (f"<details><summary><b>Parameters</b> ({len(values)} values from <code>{html.escape(source)}</code>)"
            f"</summary><table><tr><th>parameter</th><th>value</th></tr>{rows}</table></details>")


def report_html(nb: nbformat.NotebookNode, values: dict, source: str = "params.yaml") -> str:
    """HTML of an executed notebook as a report: inputs and prompts hidden, parameters shown once, as a collapsed
    table under the title, each cell's stderr after its other outputs."""
    report = copy.deepcopy(nb)
    cells = [c for c in report.cells if not PARAMETER_TAGS & set(c.metadata.get("tags", []))]
    for cell in cells:
        if cell.cell_type == "code":  # a stable sort: the log keeps its order, and so do the other outputs
            cell.outputs = sorted(cell.outputs, key=lambda output: output.get("name") == "stderr")
    table = nbformat.v4.new_markdown_cell(parameters_block(values, source), id="parameters")
    at = 1 if cells and cells[0].cell_type == "markdown" else 0
    report.cells = cells[:at] + [table] + cells[at:]
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(report)
    return body


def run_notebook(notebook: str | Path, values: dict, params_path: str | Path = "params.yaml",
                 reports: str | Path = "reports", name: str | None = None) -> tuple[Path, Path]:
    """Run ``notebook`` with ``config = values`` (its stage's settings, read from ``params_path``); return the
    (ipynb, html) paths.

    ``name`` names the executed copies (default: the notebook's stem), for a notebook run once per task.
    """
    notebook, reports = Path(notebook), Path(reports)
    if not notebook.is_file():
        raise DataError(notebook, "notebook not found")
    check_parameters(notebook)

    stem = name or notebook.stem
    out_nb = reports / "notebooks" / f"{stem}.ipynb"
    out_html = reports / "html" / f"{stem}.html"
    failed = reports / "failed" / f"{stem}.ipynb"
    for path in (out_nb, out_html):
        remove_stale_temps(path)  # left by a killed earlier run
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars carry timings: keep them out of reports
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    with atomic_path(out_nb) as tmp_nb:
        try:
            papermill.execute_notebook(str(notebook), str(tmp_nb), parameters={PARAMETER: values}, kernel_name="python3",
                                       cwd=os.getcwd(), progress_bar=False)
        except papermill.PapermillExecutionError as exc:
            failed.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_nb, failed)
            raise StageError(notebook, f"failed: {exc.ename}: {exc.evalue} "
                                       f"(executed notebook kept at {failed})") from exc
        nb = strip_volatile(nbformat.read(tmp_nb, as_version=4))
        nbformat.write(nb, str(tmp_nb))
        write_text_atomic(out_html, report_html(nb, values, Path(params_path).name))
    failed.unlink(missing_ok=True)
    return out_nb, out_html
