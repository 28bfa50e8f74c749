"""Logger factories and the run-folder bookkeeping of a resumed run (CSV appends, W&B run id)."""
