"""musicjax: deep-learning music and lyrics generation in JAX."""
