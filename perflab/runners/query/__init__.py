"""The query family: timing and plan of SQL statements on SQLite or PostgreSQL (runner.py)."""
