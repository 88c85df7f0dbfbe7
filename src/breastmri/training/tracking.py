"""Per-epoch logging with dvclive, reproducible and consistent with the checkpoint.

Files under ``live_dir`` (declare them in ``dvc.yaml``; dvclive itself writes no ``dvc.yaml``):

* ``plots/metrics/train/loss.tsv``, ``train/dice.tsv``, ``val/loss.tsv``, ``val/dice.tsv``, ``lr.tsv``:
  one row per epoch (``step`` = epoch - 1), no timestamps (dvclive adds a timestamp column only when
  ``log_metric(..., timestamp=True)``, never used here);
* ``metrics.json``: dvclive's summary (latest value of each metric and ``step``).

The logger is rebuilt from the checkpoint's history on resume (dvclive started without ``resume``
clears the folder, then every finished epoch is replayed), so a resumed run writes the same files as an
uninterrupted one, even if it was interrupted between saving ``last.pt`` and logging an epoch.
"""

from __future__ import annotations

import math
from pathlib import Path

LOGGED = (("train/loss", "train_loss"), ("train/dice", "train_dice"), ("val/loss", "val_loss"),
          ("val/dice", "val_dice"), ("lr", "lr"))


class LiveLogger:
    def __init__(self, live_dir: str | Path, history: list[dict] = ()):
        from dvclive import Live

        self.live = Live(dir=str(live_dir), resume=False, report=None, save_dvc_exp=False, dvcyaml=False)
        for row in history:
            self.log_epoch(row)

    def log_epoch(self, row: dict) -> None:
        for name, key in LOGGED:
            value = row.get(key)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                self.live.log_metric(name, float(value))
        self.live.next_step()

    def close(self) -> None:
        self.live.end()


def read_history(live_dir: str | Path):
    """The logged curves as a DataFrame indexed by epoch (columns e.g. ``train/loss``, ``val/dice``, ``lr``)."""
    import pandas as pd

    folder = Path(live_dir) / "plots" / "metrics"
    columns = {}
    for name, _ in LOGGED:
        path = folder / f"{name}.tsv"
        if path.is_file():
            table = pd.read_csv(path, sep="\t")
            columns[name] = pd.Series(table.iloc[:, -1].to_numpy(), index=table["step"].to_numpy() + 1)
    frame = pd.DataFrame(columns)
    frame.index.name = "epoch"
    return frame


def plot_history(live_dir: str | Path, best_epoch: int | None = None, title: str = ""):
    """Loss and Dice curves (train and validation) per epoch; the best epoch marked."""
    import matplotlib.pyplot as plt

    history = read_history(live_dir)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, metric in zip(axes[:2], ("loss", "dice")):
        for split in ("train", "val"):
            name = f"{split}/{metric}"
            if name in history:
                ax.plot(history.index, history[name], marker="o", ms=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if best_epoch:
            ax.axvline(best_epoch, color="tab:red", ls="--", lw=1, label=f"best ({best_epoch})")
        ax.legend()
    if "lr" in history:
        axes[2].semilogy(history.index, history["lr"], marker="o", ms=3)
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("learning rate")
    axes[2].grid(alpha=0.3)
    axes[0].set_title("loss")
    axes[1].set_title("Dice (train: voxels; validation: mean per patient, 3D)")
    axes[2].set_title("learning rate")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
