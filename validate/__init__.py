"""validate: independent numerics (the jitted finite-size GD simulator), validation cases and Dask sweeps."""
from validate.simulator import SimulationResult, simulate
from validate.sweeping import plot_sweep, sweep

__all__ = ["simulate", "SimulationResult", "sweep", "plot_sweep"]
