"""Training loop, losses, checkpoints, threshold selection."""
