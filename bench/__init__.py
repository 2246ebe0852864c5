"""`make bench`: AWS calls, Lambda invocations, handler work, cold start, package sizes and watchdog reads.

Each measurement is a module of this package that runs in its own process (``python -m bench.<name>``)
and prints its figures as JSON; ``python -m bench`` runs them all, checks them against the targets of
issue 7 and writes ``bench/results.json`` (the source of the README's "Performance" table).
"""
