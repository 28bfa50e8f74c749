"""LightningModules: optimisation, schedules and logging around the plain models."""
