"""opcenter api layer."""
