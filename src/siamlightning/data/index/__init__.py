"""Indexes of whole datasets: the memory-mapped `CompactIndex`, its encoding and its cache."""
