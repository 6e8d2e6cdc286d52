"""opcenter engine layer."""
