"""The concurrency family: scaling over threads, processes and asyncio tasks (runner.py), GIL sampling and
the summary (report.py)."""
