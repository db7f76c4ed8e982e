"""Test protocols as data: TOML files, their loader and validation."""
