"""Metrics, baselines, plots and reports of models and their samples."""
