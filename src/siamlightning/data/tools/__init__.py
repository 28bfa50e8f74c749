"""Offline tools: annotation writers, dataset checks, and the crop cache builder and reader."""
