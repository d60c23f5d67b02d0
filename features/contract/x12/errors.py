"""Mapping errors: a transaction that the segment reader accepted but whose claims cannot be mapped.

Why a separate exception from ``X12Error``: the mappers (837, 835) work deep inside one pass over the
segments and stop at the first claim they cannot map; raising keeps that pass free of error plumbing, and
the caller, which knows the file, turns the exception into the reader's ``X12Error`` so every unreadable
file or transaction is reported the same way. Like ``X12Error`` it names positions and a rule, never an
element value: segment contents are PHI.
"""

from __future__ import annotations

from features.contract.x12.segments import X12Error

__all__ = ["X12MappingError"]


class X12MappingError(Exception):
    """Why a claim could not be mapped: where (segment number and id, element) and the rule it breaks."""

    def __init__(self, segment_number: int, segment_id: str, element: int | None, rule: str) -> None:
        self.segment_number = segment_number
        self.segment_id = segment_id
        self.element = element
        self.rule = rule
        super().__init__(self._where() + rule)

    def _where(self) -> str:
        where = f"segment {self.segment_number}, {self.segment_id}"
        return where + (f", element {self.element:02d}: " if self.element is not None else ": ")

    def to_error(self, file: str) -> X12Error:
        """The reader's error type, so mapping failures and reading failures are reported alike."""
        return X12Error(file, self.segment_number, self.segment_id, self.element, self.rule)
