"""Textual messages of the app (snapshot updated, run ended)."""
