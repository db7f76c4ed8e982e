"""Calibration records, fitting and verification (pure numpy plus file I/O)."""
