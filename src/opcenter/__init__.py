"""opcenter: an open Operation Center for manually triggered workflows."""

__version__ = "0.1.0"
