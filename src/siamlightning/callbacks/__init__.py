"""Callbacks and logger factories (Lightning's own callbacks are used wherever one exists)."""
