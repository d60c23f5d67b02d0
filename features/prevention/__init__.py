"""Prevention: denial patterns that stand out from noise, routed to the team that owns the upstream fix."""
