"""Neural-network parts: activations, initializers and model builders, registered by name."""
from trainlab.nn import activations, init, models, penalties  # noqa: F401  (registers the entries)
# isort: split
from trainlab.nn import autoencoder, vision_models  # noqa: F401  (registered after the built-in models, listed after them)
