"""The papermill runner: one ``config`` parameter, reproducible outputs, nothing partial on failure."""

from pathlib import Path

import nbformat
import pytest

from breastmri.data.errors import DataError
from breastmri.pipeline.params import merged_sections
from breastmri.cli import main as cli
from breastmri.pipeline.notebook import StageError, run_notebook

ROOT = Path(__file__).resolve().parents[2]


def _notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("config = {}", id="c01")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body, id="c02")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def stage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return _notebook(tmp_path / "01_demo.ipynb", 'print(config["label"] * config["size"])')


DEMO = {"size": 3, "label": "ab"}


def test_runs_with_params_and_writes_notebook_and_html(stage, tmp_path):
    out_nb, out_html = run_notebook(stage, DEMO, reports=tmp_path / "reports")
    executed = nbformat.read(out_nb, as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "ababab\n"
    assert "ababab" in out_html.read_text()
    assert out_nb == tmp_path / "reports/notebooks/01_demo.ipynb"


def test_html_reads_as_a_report_code_hidden_parameters_once(stage, tmp_path):
    """The executed notebook keeps everything; its HTML hides code and shows the values used once."""
    nb = nbformat.read(stage, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# Demo stage", id="c00"))
    nbformat.write(nb, str(stage))
    out_nb, out_html = run_notebook(stage, DEMO, reports=tmp_path / "reports")
    html = out_html.read_text()
    assert "ababab" in html  # outputs stay
    assert "print(config" not in html and "config = {}" not in html  # code and the empty default are hidden
    assert html.count("<code>label</code>") == 1 and "<code>\"ab\"</code>" in html  # the value used
    assert "<code>size</code>" in html and "<code>3</code>" in html
    assert html.index("Demo stage") < html.index("Parameters") < html.index("ababab")
    assert "print(config" in out_nb.read_text()  # the executed notebook still has its code


def test_a_cells_console_log_follows_the_summary_it_displays_in_the_html(tmp_path, monkeypatch):
    """As the training stage's cell: the epoch log goes to stderr while the stage runs, then the summary is
    displayed; the report opens with the summary, the log under it; the executed notebook keeps the order."""
    monkeypatch.chdir(tmp_path)
    stage = _notebook(tmp_path / "05_demo.ipynb", "import sys\n"
                      "from IPython.display import Markdown, display\n"
                      "print('epoch 1/2: loss 0.5', file=sys.stderr)\n"
                      "print('epoch 2/2: loss 0.4', file=sys.stderr, flush=True)\n"
                      "display(Markdown('**best epoch 2 of 2**'))\n"
                      "print('plain output')")
    out_nb, out_html = run_notebook(stage, DEMO, reports=tmp_path / "reports")
    html = out_html.read_text()
    assert html.index("best epoch 2 of 2") < html.index("plain output") < html.index("epoch 1/2") < \
        html.index("epoch 2/2")
    outputs = nbformat.read(out_nb, as_version=4).cells[-1].outputs
    assert outputs[0]["name"] == "stderr" and "epoch 1/2" in outputs[0]["text"]


def test_name_gives_one_notebook_a_copy_per_task(stage, tmp_path):
    reports = tmp_path / "reports"
    nb_a, html_a = run_notebook(stage, {"size": 1, "label": "x"}, reports=reports, name="01_demo_a")
    nb_b, _ = run_notebook(stage, {"size": 2, "label": "x"}, reports=reports, name="01_demo_b")
    assert (nb_a, html_a) == (reports / "notebooks/01_demo_a.ipynb", reports / "html/01_demo_a.html")
    assert nbformat.read(nb_a, as_version=4).cells[-1].outputs[0]["text"] == "x\n"
    assert nbformat.read(nb_b, as_version=4).cells[-1].outputs[0]["text"] == "xx\n"
    assert not (reports / "notebooks/01_demo.ipynb").exists()


def test_rerun_is_byte_identical(stage, tmp_path):
    out_nb, out_html = run_notebook(stage, DEMO, reports=tmp_path / "reports")
    first = (out_nb.read_bytes(), out_html.read_bytes())
    run_notebook(stage, DEMO, reports=tmp_path / "reports")
    assert (out_nb.read_bytes(), out_html.read_bytes()) == first
    text = out_nb.read_text()
    assert "start_time" not in text and "end_time" not in text and "iopub" not in text


def test_a_log_written_slowly_or_at_once_gives_the_same_notebook(tmp_path, monkeypatch):
    """The kernel sends a write to stderr as its own output or batched with the next, by timing (a training run
    writes an epoch's line every few seconds, a resumed one replays them at once): the notebook holds the same
    single output either way."""
    monkeypatch.chdir(tmp_path)
    files = []
    stage = _notebook(tmp_path / "05_demo.ipynb", "import os, sys, time\n"
                      "for k in (1, 2, 3):\n"
                      "    sys.stderr.write(f'epoch {k}/3'); sys.stderr.flush(); sys.stderr.write('\\n')\n"
                      "    sys.stderr.flush(); time.sleep(float(os.environ['DEMO_PAUSE']))\n"
                      "print('done')")
    for pause in ("0", "0.3"):  # the kernel inherits the environment: the same notebook, other timing
        monkeypatch.setenv("DEMO_PAUSE", pause)
        out_nb, out_html = run_notebook(stage, DEMO, reports=tmp_path / "reports")
        files.append((out_nb.read_bytes(), out_html.read_bytes()))
        outputs = nbformat.read(out_nb, as_version=4).cells[-1].outputs
        assert [(o["name"], o["text"]) for o in outputs] == [("stderr", "epoch 1/3\nepoch 2/3\nepoch 3/3\n"),
                                                            ("stdout", "done\n")]
    assert files[0] == files[1]


def test_a_notebook_declaring_other_parameters_is_refused(tmp_path):
    """Stage notebooks hold no defaults: their only parameter is the stage's config mapping."""
    nb = _notebook(tmp_path / "03_old.ipynb", "print(size)")
    nb_json = nbformat.read(nb, as_version=4)
    nb_json.cells[0].source = "size = 1"
    nbformat.write(nb_json, str(nb))
    with pytest.raises(DataError, match="declares one parameter, 'config' \\(declared: size\\)"):
        run_notebook(nb, {"size": 2}, reports=tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


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


def test_failing_notebook_leaves_no_output_and_the_command_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    nb = _notebook(tmp_path / "02_bad.ipynb", "raise ValueError('planted failure')")
    with pytest.raises(StageError, match="planted failure"):
        run_notebook(nb, DEMO, reports=tmp_path / "reports")
    assert not (tmp_path / "reports/notebooks/02_bad.ipynb").exists()
    assert not (tmp_path / "reports/html/02_bad.html").exists()
    assert (tmp_path / "reports/failed/02_bad.ipynb").exists()
    (tmp_path / "notebooks").mkdir()
    _notebook(tmp_path / "notebooks/02_eda.ipynb", "raise ValueError('planted failure')")  # as `breastmri eda` finds it
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    assert cli(["eda", "--report", "--reports", str(tmp_path / "reports")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: notebooks/02_eda.ipynb: failed: ValueError: planted failure") and "Traceback" not in err
    assert not (tmp_path / "reports/html/02_eda.html").exists()
