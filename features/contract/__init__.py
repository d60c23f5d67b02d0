"""The data contract (DATA.md): tables, readers, validation and quarantine, code tables, payer rules,
labels and KPIs. It imports nothing else of ClaimSight: a reader never depends on a feature."""
