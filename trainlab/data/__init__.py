"""Data: registered datasets, seeded splits, preprocessing fitted on train, batching."""
from trainlab.data import datasets, files, preprocess, user  # noqa: F401  (registers the entries)
