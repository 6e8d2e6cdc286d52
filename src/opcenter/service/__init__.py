"""opcenter service layer."""
