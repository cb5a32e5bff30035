"""validate: independent numerics (the jitted finite-size GD simulator), validation cases and Dask sweeps."""
from mftheory.validate.simulator import SimulationResult, simulate
from mftheory.validate.sweeping import plot_sweep, sweep

__all__ = ["simulate", "SimulationResult", "sweep", "plot_sweep"]
