"""Flax Linen modules, one model family a file; constructor arguments are plain values."""
