"""Launched by test_ddp.py under ``torchrun --nproc_per_node 2``: trains, saves this rank's weights."""

import json
import sys
from pathlib import Path

import torch

from breastmri.training.distributed import cleanup_distributed, init_distributed
from breastmri.training.train import run_training

if __name__ == "__main__":
    h5, out = Path(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    ctx = init_distributed("cpu")
    metrics, result = run_training(h5, out / "m", out / "live", "breast", ctx=ctx, base=4, depth=2, batch_size=3,
                                   max_epochs=2, patience=5, lr=0.01, device="cpu")
    torch.save({"last": result.last_state, "best": result.model.state_dict()}, out / f"rank{ctx.rank}.pt")
    (out / f"rank{ctx.rank}.json").write_text(json.dumps(metrics, sort_keys=True))
    (out / f"world{ctx.rank}.txt").write_text(f"{ctx.world_size} {torch.distributed.get_backend()}")
    cleanup_distributed()
