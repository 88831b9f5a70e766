"""Percentiles and the printed/markdown form of a figure measured against its floor."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sample."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Comparison:
    """A figure, its floor from the same run, and the target for figure/floor."""

    name: str
    value: float
    floor: float
    unit: str
    target_ratio: float

    @property
    def ratio(self) -> float:
        return self.value / self.floor if self.floor > 0 else math.inf

    @property
    def verdict(self) -> str:
        return "meets target" if self.ratio <= self.target_ratio else "misses target"

    def line(self) -> str:
        return (
            f"{self.name}: {self.value:.4g} {self.unit}, floor {self.floor:.4g} {self.unit}, "
            f"ratio {self.ratio:.2f} (target <= {self.target_ratio}, {self.verdict})"
        )

    def row(self) -> str:
        return (
            f"| {self.name} | {self.value:.4g} {self.unit} | {self.floor:.4g} {self.unit} "
            f"| {self.ratio:.2f} | <= {self.target_ratio} ({self.verdict}) |"
        )


COMPARISON_HEADER = "| figure | value | floor | ratio | target |\n|---|---|---|---|---|"
