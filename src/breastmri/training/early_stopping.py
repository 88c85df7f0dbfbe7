"""Early stopping on a value to minimise (validation loss), with a resumable state."""

from __future__ import annotations

import math


class EarlyStopping:
    """Stop after ``patience`` consecutive epochs without an improvement larger than ``min_delta``.

    ``step(value, epoch)`` returns True when ``value`` is a new best (the caller then saves the best
    model). ``should_stop`` tells whether patience is exhausted.
    """

    def __init__(self, patience: int, min_delta: float = 0.0):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.best = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0

    def step(self, value: float, epoch: int) -> bool:
        value = float(value)
        if not math.isfinite(value):
            self.bad_epochs += 1
            return False
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = value, int(epoch), 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return {"patience": self.patience, "min_delta": self.min_delta, "best": self.best,
                "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.patience, self.min_delta = int(state["patience"]), float(state["min_delta"])
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
