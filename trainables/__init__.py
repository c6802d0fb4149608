"""The trainables: models, data, the one training loop, the NAS search and the Ray Tune entry points.

The NAS-derived network registers its builder with the model factory (trainables/models/factory.py) when
trainables.nas.derive is imported; importing it here makes `build_model` know it whichever module a
caller imports first, while trainables.models never imports trainables.nas.
"""
from .nas import derive as _register_searched_network  # noqa: F401
