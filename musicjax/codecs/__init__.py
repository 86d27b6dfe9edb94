"""Invertible maps between Scores and the integer/float arrays models read and write."""
