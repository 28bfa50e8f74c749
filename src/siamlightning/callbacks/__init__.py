"""Training callbacks (Lightning's own callbacks are used wherever one exists)."""
