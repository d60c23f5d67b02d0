"""The command modules, one per concern; `claimsight.cli` assembles them into the app."""
