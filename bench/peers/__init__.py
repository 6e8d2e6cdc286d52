"""Side-by-side benchmark of opcenter against peer schedulers (issue 7).

One program per engine (``<engine>_bench.py``) builds the shared workloads in that engine's own
idiom; ``bench/run_peers.py`` installs the peers into ``bench/.venvs/<peer>/``, times the
programs as whole processes and writes the table to ``docs/benchmarks.md``.
"""
