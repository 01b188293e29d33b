"""Optional helpers built on the core."""
