"""The data contract: readers, validation and quarantine, code tables, payer rules, labels, KPIs.

This layer imports no other ClaimSight layer.
"""
