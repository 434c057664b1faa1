"""Capacity-restrained traffic assignment: BPR link performance and static user equilibrium."""

from .bpr import BPR_ALPHA, BPR_BETA, CAPACITY_PER_LANE_VPH, DEFAULT_LANES, bpr_time, link_performance
from .equilibrium import (
    AssignmentConvergenceWarning,
    EquilibriumResult,
    ShortestPathLoader,
    beckmann_objective,
    equilibrium_assignment,
)

__all__ = [
    "BPR_ALPHA",
    "BPR_BETA",
    "CAPACITY_PER_LANE_VPH",
    "DEFAULT_LANES",
    "AssignmentConvergenceWarning",
    "EquilibriumResult",
    "ShortestPathLoader",
    "beckmann_objective",
    "bpr_time",
    "equilibrium_assignment",
    "link_performance",
]
