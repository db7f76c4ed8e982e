"""Reassessment over time: trends per patient, test and side, with MDC-aware verdicts, the LSI
and the EPIC view; reference values (measurement error, norms) as versioned data."""
