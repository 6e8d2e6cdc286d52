"""opcenter domain layer."""
