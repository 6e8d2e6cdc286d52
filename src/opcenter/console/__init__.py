"""The Operation Center page (see app.py)."""
