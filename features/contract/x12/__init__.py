"""X12 837 claims and 835 remittances in, DATA.md tables out (issue 13)."""
