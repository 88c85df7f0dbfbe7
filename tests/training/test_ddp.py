"""Two-process DistributedDataParallel training on CPU (gloo) under torchrun: all ranks end identical."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from breastmri.model.unet import UNet
from breastmri.training.checkpoint import load_checkpoint

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_two_process_gloo_run_trains_and_ranks_end_with_identical_weights(breast_h5, tmp_path, tiny_params):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    params = tiny_params("breast", batch_size=3, max_epochs=2)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(WORKER), str(breast_h5), str(tmp_path), json.dumps(params)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [(tmp_path / f"world{r}.txt").read_text() for r in (0, 1)] == ["2 gloo"] * 2
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for kind in ("last", "best"):
        a, b = ranks[0][kind], ranks[1][kind]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), kind
    last = load_checkpoint(tmp_path / "m/last.pt")  # written by rank 0 only
    assert last["epoch"] == 2
    assert all(torch.equal(last["model_state"][k], ranks[0]["last"][k]) for k in ranks[0]["last"])
    torch.manual_seed(last["params"]["seed"])  # the stage seeds, then builds the model: its initial weights
    initial = UNet(**last["model_config"]).state_dict()
    assert not all(torch.equal(initial[k], last["model_state"][k]) for k in initial if "running" not in k)
    metrics = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert metrics[0] == metrics[1] and metrics[0]["n_val_patients_scored"] == 2
