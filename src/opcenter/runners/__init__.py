"""opcenter runners layer."""
