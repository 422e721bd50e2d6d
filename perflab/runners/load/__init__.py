"""The load family: Locust runs (runner.py, stats.py, locustgen.py), the stress ramp (stress.py), the server under
test (server.py) and its profiling while it serves (serverprof.py)."""
