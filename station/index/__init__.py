"""The results index: one row per session, test, side and trial, kept beside the session files.

The session files stay the source of truth; the index is a fast, rebuildable copy of their
results for history queries and patient exports. :mod:`station.index.store` defines the
interface every backend implements (SQLite here, PostgreSQL for a clinic network).
"""
