"""The ten-state demo and its synthetic data (not used by a production node)."""
