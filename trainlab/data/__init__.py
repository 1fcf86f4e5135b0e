"""Data: registered datasets, seeded splits, preprocessing fitted on train, batching."""
from trainlab.data import datasets, preprocess  # noqa: F401  (registers the entries)
