"""`python -m opcenter.cli`: the same entry point as the `opcenter` console script."""

from __future__ import annotations

from opcenter.cli import main

main()
