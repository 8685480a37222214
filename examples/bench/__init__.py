"""The benchmark's parts: ``book`` (the book's code, the baseline) and ``steps`` (one step builder
per implementation and row). The harness is examples/benchmark.py."""
