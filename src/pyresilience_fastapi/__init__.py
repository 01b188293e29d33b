"""Adapter package."""
