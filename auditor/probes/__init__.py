"""Probes: each turns network observations into Findings. They never render and never score."""
