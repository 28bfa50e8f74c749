"""Correlation heads."""
