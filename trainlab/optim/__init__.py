"""Optimizers and learning-rate schedules, registered by name (torch.optim wrapped)."""
from trainlab.optim import optimizers, schedules  # noqa: F401  (registers the entries)
