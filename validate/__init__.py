"""validate: independent numerics (the jitted finite-size GD simulator) to check the theory against."""
from validate.simulator import SimulationResult, simulate

__all__ = ["simulate", "SimulationResult"]
