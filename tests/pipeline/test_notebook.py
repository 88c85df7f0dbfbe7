"""The papermill runner: strict parameters, reproducible outputs, nothing partial on failure."""

from pathlib import Path

import nbformat
import pytest
import yaml

from breastmri.data.errors import DataError
from breastmri.pipeline.params import merged_sections
from breastmri.pipeline.notebook import StageError, main, run_notebook


def _notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('size = 1\nlabel = "x"', id="c01")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body, id="c02")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def stage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb = _notebook(tmp_path / "01_demo.ipynb", "print(label * size)")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"demo": {"size": 3, "label": "ab"}}))
    return nb


def test_runs_with_params_and_writes_notebook_and_html(stage, tmp_path):
    out_nb, out_html = run_notebook(stage, ["demo"], reports=tmp_path / "reports")
    executed = nbformat.read(out_nb, as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "ababab\n"
    assert "ababab" in out_html.read_text()
    assert out_nb == tmp_path / "reports/notebooks/01_demo.ipynb"


def test_html_reads_as_a_report_code_hidden_parameters_once(stage, tmp_path):
    """The executed notebook keeps everything; its HTML hides code and shows the values used once."""
    nb = nbformat.read(stage, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# Demo stage", id="c00"))
    nbformat.write(nb, str(stage))
    out_nb, out_html = run_notebook(stage, ["demo"], reports=tmp_path / "reports")
    html = out_html.read_text()
    assert "ababab" in html  # outputs stay
    assert "print(label" not in html and "label * size" not in html  # code is hidden
    assert html.count("<code>label</code>") == 1 and "<code>\"ab\"</code>" in html  # the value used
    assert "<code>size</code>" in html and "<code>3</code>" in html and '"x"' not in html  # not the defaults
    assert html.index("Demo stage") < html.index("Parameters") < html.index("ababab")
    assert "label * size" in out_nb.read_text()  # the executed notebook still has its code


def test_name_gives_one_notebook_a_copy_per_task(stage, tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"a": {"size": 1, "label": "x"}, "b": {"size": 2, "label": "x"}}))
    reports = tmp_path / "reports"
    nb_a, html_a = run_notebook(stage, ["a"], reports=reports, name="01_demo_a")
    nb_b, _ = run_notebook(stage, ["b"], reports=reports, name="01_demo_b")
    assert (nb_a, html_a) == (reports / "notebooks/01_demo_a.ipynb", reports / "html/01_demo_a.html")
    assert nbformat.read(nb_a, as_version=4).cells[-1].outputs[0]["text"] == "x\n"
    assert nbformat.read(nb_b, as_version=4).cells[-1].outputs[0]["text"] == "xx\n"
    assert not (reports / "notebooks/01_demo.ipynb").exists()


def test_rerun_is_byte_identical(stage, tmp_path):
    out_nb, out_html = run_notebook(stage, ["demo"], reports=tmp_path / "reports")
    first = (out_nb.read_bytes(), out_html.read_bytes())
    run_notebook(stage, ["demo"], reports=tmp_path / "reports")
    assert (out_nb.read_bytes(), out_html.read_bytes()) == first
    text = out_nb.read_text()
    assert "start_time" not in text and "end_time" not in text and "iopub" not in text


def test_misnamed_key_fails_naming_it(stage, tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"demo": {"size": 3, "lable": "ab"}}))
    with pytest.raises(DataError, match="lable") as err:
        run_notebook(stage, ["demo"], reports=tmp_path / "reports")
    assert "label" in str(err.value)  # the declared names are listed too
    assert not (tmp_path / "reports/notebooks/01_demo.ipynb").exists()


def test_key_defined_twice_or_missing_section(stage, tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"a": {"size": 1}, "b": {"size": 2, "label": "x"}}))
    with pytest.raises(DataError, match="'size' is set in both 'a' and 'b'"):
        run_notebook(stage, ["a", "b"])
    with pytest.raises(DataError, match="no section 'nope'"):
        run_notebook(stage, ["nope"])


def test_a_section_that_declares_overrides_replaces_only_keys_of_that_section():
    params = {"train": {"size": 1, "label": "x"}, "data": {"root": "r"},
              "variant": {"overrides": "train", "label": "y"}, "typo": {"overrides": "train", "lable": "y"},
              "orphan": {"overrides": "train", "size": 2}}
    assert merged_sections(params, ["train", "data", "variant"]) == {"size": 1, "label": "y", "root": "r"}
    assert merged_sections(params, ["train"]) == {"size": 1, "label": "x"}  # the base itself is untouched
    with pytest.raises(DataError, match="'lable' of 'typo' is not a key of 'train'"):
        merged_sections(params, ["train", "typo"])
    with pytest.raises(DataError, match="'orphan' overrides 'train', which is not merged before it"):
        merged_sections(params, ["orphan", "train"])
    with pytest.raises(DataError, match="'size' of 'orphan' is already overridden by 'variant'"):
        merged_sections({**params, "variant": {"overrides": "train", "size": 3}}, ["train", "variant", "orphan"])


def test_failing_notebook_leaves_no_output_and_cli_exits_nonzero(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    nb = _notebook(tmp_path / "02_bad.ipynb", "raise ValueError('planted failure')")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"bad": {"size": 1, "label": "x"}}))
    with pytest.raises(StageError, match="planted failure"):
        run_notebook(nb, ["bad"], reports=tmp_path / "reports")
    assert not (tmp_path / "reports/notebooks/02_bad.ipynb").exists()
    assert not (tmp_path / "reports/html/02_bad.html").exists()
    assert (tmp_path / "reports/failed/02_bad.ipynb").exists()
    assert main([str(nb), "--sections", "bad", "--reports", str(tmp_path / "reports")]) == 1
    assert "planted failure" in capsys.readouterr().err
