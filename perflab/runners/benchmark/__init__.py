"""The benchmark family: pytest-benchmark runs of tests or callables (runner.py)."""
