"""Plain nn.Modules: backbones, heads, targets and losses; no config objects inside."""
