"""opcenter store layer."""
