"""Experiment tools: LR range test, snapshot ensembles, comparisons and searches."""
