"""Benchmarks of neurosim's engines; run ``python -m benchmarks --help`` from the clone's root.

The code lives in :mod:`neurosim.benchmarking`, so that an installed copy runs the same
benchmarks as ``neurosim bench``.
"""
