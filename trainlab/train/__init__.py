"""Training: the Trainer loop, its callbacks, losses and metrics, checkpoints."""
from trainlab.train import metrics  # noqa: F401  (registers the entries)
