"""`make bench`: AWS calls, Lambda invocations, handler work, cold start, package sizes and watchdog reads.

Each measurement is a module of this package that runs in its own process (``python -m bench.<name>``)
and prints its figures as JSON; ``python -m bench`` runs them all, checks them against the performance
targets (``bench/targets.py``) and writes ``bench/results.json``, the source of docs/performance.md.
"""
