"""The records a batch job passes around: rows read from a source (RowBlock), rows that failed
(RowError) and one shard's results (ShardResult)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RowError:
    """An input row that produced no output: its row id, the stage that failed ("read" when the
    row could not be turned into a tensor, "run" when the model failed on it) and the error."""

    row_id: int
    stage: str
    error: str

    def to_dict(self) -> dict[str, object]:
        """The row as one line of the errors file."""
        return {"row_id": self.row_id, "stage": self.stage, "error": self.error}


@dataclass
class RowBlock:
    """Rows read from a source: `row_ids` (int64, ascending) of the rows that were read, extra key
    columns for them (e.g. `path` for a folder), the model feeds stacked along the batch dim, and the
    rows that could not be read."""

    row_ids: np.ndarray
    feeds: dict[str, np.ndarray]
    keys: dict[str, np.ndarray] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    def take(self, positions: np.ndarray | slice) -> RowBlock:
        """The rows at `positions` (indices into this block), without the read errors."""
        return RowBlock(self.row_ids[positions], {k: v[positions] for k, v in self.feeds.items()},
                        {k: v[positions] for k, v in self.keys.items()})


@dataclass
class ShardResult:
    """One shard's results: the row ids (and key columns) of the rows that ran, each output stacked
    in row-id order, and every row of the shard that failed."""

    shard: int
    row_ids: np.ndarray
    outputs: dict[str, np.ndarray]
    keys: dict[str, np.ndarray] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        """Rows of the shard accounted for: those with outputs plus those that failed."""
        return len(self.row_ids) + len(self.errors)
