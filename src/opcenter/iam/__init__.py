"""opcenter iam layer."""
