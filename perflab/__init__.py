"""perflab: a performance lab for Python code."""

__version__ = "0.1.0"
