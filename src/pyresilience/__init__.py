"""pyresilience core."""
