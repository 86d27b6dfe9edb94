"""Probabilistic sequence models outside Flax: PPM (numpy) and, later, NumPyro models."""
