"""Launched by test_ddp.py under ``torchrun --nproc_per_node 2`` with the slice file, the output folder and the
hyperparameters (JSON): trains, saves this rank's weights."""

import json
import sys
from pathlib import Path

import torch

from breastmri.training.distributed import cleanup_distributed, init_distributed
from breastmri.training.train import run_training

if __name__ == "__main__":
    h5, out, params = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])  # every hyperparameter
    torch.set_num_threads(1)
    ctx = init_distributed(params["device"])
    metrics, result = run_training(h5, out / "m", out / "live", "breast", ctx=ctx, **params)
    torch.save({"last": result.last_state, "best": result.model.state_dict()}, out / f"rank{ctx.rank}.pt")
    (out / f"rank{ctx.rank}.json").write_text(json.dumps(metrics, sort_keys=True))
    (out / f"world{ctx.rank}.txt").write_text(f"{ctx.world_size} {torch.distributed.get_backend()}")
    cleanup_distributed()
