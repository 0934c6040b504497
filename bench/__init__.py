"""Benchmarks: scripts that print figures (never run as tests). See the README's results."""
