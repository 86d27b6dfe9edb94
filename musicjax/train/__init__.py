"""Training core shared by every model: optimizers, pure steps, parallelism, checkpoints, loop."""
