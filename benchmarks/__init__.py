"""The benchmark suite: ``nox -s bench`` (or ``python -m benchmarks.run``).

Each benchmark measures the platform side by side with a bare baseline in the same
run and reports the ratio, so a noisy machine still gives comparable figures.
"""
