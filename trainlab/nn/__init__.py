"""Neural-network parts: activations, initializers and model builders, registered by name."""
from trainlab.nn import activations, init, models, penalties  # noqa: F401  (registers the entries)
