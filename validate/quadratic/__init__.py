"""Independent numerics of the quadratic network: its gradient-descent simulator and validation cases."""
from mftheory.validate.quadratic.simulator import (QuadraticProblem, QuadraticRun, draw_quadratic_problem, network_outputs,
                                          simulate_many, simulate_quadratic)

__all__ = ["QuadraticProblem", "QuadraticRun", "draw_quadratic_problem", "simulate_quadratic", "network_outputs",
           "simulate_many"]
