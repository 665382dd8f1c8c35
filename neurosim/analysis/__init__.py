"""Analyses over trained or random networks: experiment runs, gradient alignment, gradient checks."""
