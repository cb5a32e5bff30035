"""Parameter sweeps of theory against simulation on Dask (dask.distributed): resumable and fault-tolerant.

API::

    from mftheory import Setup
    from mftheory.validate import sweep, plot_sweep
    base = Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=100)
    df = sweep(base, {"d": [10, 20], "N": [2000, 8000]}, seeds=[0, 1], steps=300, out="runs/demo")
    plot_sweep(df, x="N", y="f_unsat", hue="d")

Command line::

    python -m mftheory.validate sweep SPEC.toml --out DIR [--scheduler ADDRESS] [--workers K]
    python -m mftheory.validate sweep --builtin phase|overfitting|finite_size|label_noise --out DIR
    python -m mftheory.validate sweep --list

Spec (TOML)::

    [sweep]
    steps = 300
    seeds = [0, 1]            # or an integer k: seeds 0 .. k-1
    N = 4000                  # optional when N is a grid key
    record_steps = [0, 10, 300]   # optional, default mftheory.validate.simulator.default_record_steps(steps)
    figure = "phase"          # optional: a built-in figure function drawn from the table
    [base]                    # the mftheory.Setup fields not in the grid
    d = 20
    alpha = 1.0
    h = 1.0
    eta = 500.0
    M = 100
    [grid]                    # full product over the keys, in this order ...
    d = [10, 20, 40]
    N = [1000, 4000]
    alpha_eta = [{alpha = 0.1, eta = 5000.0}, {alpha = 1.0, eta = 500.0}]   # ... a list of tables: fields varied together

or ``[[grid]]`` tables (TOML's array of tables): an explicit list of points, each overriding ``[base]``.

Grid keys are :class:`mftheory.Setup` field names or ``"N"``; a key whose values are tables (dicts) is a *group*
whose name is only a label.  Everything is validated before anything is submitted (unknown names, empty lists,
invalid Setup values, a discrete map undefined for the point) with a ``ValueError`` naming the parameter.

Output, under ``out``:

``points/KEY.parquet``
    one small file per finished point x seed.  KEY = sha256 of the canonical JSON of the point's full parameters
    (the validated Setup fields and N, floats as ``float.hex``), the seed, steps, the resolved record_steps and the
    fixed simulation options (``n_test``, the table schema version).  Each file is written by the driver through a
    temporary file in the same directory (``.KEY.*.tmp``), fsync'd and ``os.replace``'d over the final name, so a
    file under that name is always complete; a rerun skips the points whose file is there (and reads as Parquet).
``table.parquet``
    (atomic too) the concatenation of the point files in grid order, then seed order, then t: the same spec gives the
    same table bit for bit (the simulator is bit-reproducible for a given seed).  Its schema metadata
    ``mftheory.sweep`` holds the spec, the seeds and the package versions (no timestamps).
``summary.json``
    points computed / skipped / failed, wall time, points per second (this run's, so it changes between runs).

The table is tidy: one row per point x seed x recorded step t, with the point's parameters (every Setup field,
``N``, and the derived ``beta`` and ``laziness``), ``point`` (index in the grid), ``seed``, ``steps``, ``t``, ``key``
and, theory and simulation side by side (``*_theory``, ``*_sim``):

``gamma_plus``      theory ``MeanFieldSolution.gamma_plus[t]``; simulation ``mftheory.validate.cases.measured_gamma_plus``
``f_unsat``         fraction of unsatisfied training examples (theory: mean field; sim: measured)
``train_error``, ``test_error``   simulation; the mean-field theory predicts 0
``alignment``       theory ``solution.alignment``; sim mean_i w_par^2 / mean_i (w_par^2 + |w_perp|^2)
``relative_change`` theory ``solution.relative_change``; sim sqrt(mean_i[(a - a0)^2 + (w_par - w_par0)^2] /
                    mean_i[a0^2 + w_par0^2 + |w_perp0|^2]): only the a and w_par part of the change is counted
                    (the theory's w_perp does not move; the simulator records |w_perp| but not its direction), and
                    the denominator is the empirical |theta_0|^2 instead of its expectation sigma_a^2 + d sigma_w^2
``kappa``           theory ``solution.kappa[t]``; sim: least-squares slope of f along x_par on 4000 fresh inputs,
                    at the last step only (NaN elsewhere: the simulator keeps only the final weights)

Dask
----
Each point x seed is one task, submitted with ``retries=3`` under its KEY (a task whose worker dies is
rescheduled by the scheduler; a task that raises is retried).  Results come back to the driver, which writes the
files: workers need no shared filesystem.  Without ``scheduler`` a ``distributed.LocalCluster`` is started with
``n_workers = workers or os.cpu_count()`` processes, one thread each, and ``NUMBA_NUM_THREADS=1``,
``OMP_NUM_THREADS=1``, ``OPENBLAS_NUM_THREADS=1``, ``MKL_NUM_THREADS=1`` in their environment; every task also calls
``numba.set_num_threads(1)``, so K workers use K cores.  Memory per task is bounded by the simulator's inputs
(N x d training and 10^4 x d test inputs; it never builds N x M arrays) and the (R, M) recorded trajectory.

On a cluster, start a scheduler and workers there and pass its address (``--scheduler tcp://HOST:8786``); with
``--workers K`` the driver waits until K workers have joined.  Workers must have this package installed and should
run one thread each (``--nthreads 1``) with ``NUMBA_NUM_THREADS=1`` set:

* SLURM / PBS with dask-jobqueue (``pip install dask-jobqueue``)::

      from dask_jobqueue import SLURMCluster          # or PBSCluster
      cluster = SLURMCluster(cores=32, processes=32, memory="64GB", walltime="02:00:00",
                             job_script_prologue=["export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1"])
      cluster.scale(jobs=6)                          # 192 single-threaded workers
      sweep(base, grid, seeds, steps, out, scheduler=cluster.scheduler_address)   # or Client(cluster)

  or from a login node ``python -m mftheory.validate sweep spec.toml --out DIR --scheduler tcp://...:8786 --workers 192``.
* Kubernetes (``dask-kubernetes`` operator or the Dask Helm chart): create a ``DaskCluster`` whose worker image has
  this package, with ``--nthreads 1`` and ``NUMBA_NUM_THREADS=1``; port-forward or expose the scheduler service and
  pass its address (``--scheduler tcp://SCHEDULER-SERVICE:8786``).
* Anything else: ``dask scheduler`` on one host, ``dask worker tcp://HOST:8786 --nthreads 1 --nworkers K`` on each.

The driver can be killed at any time; rerunning the same command finishes the rest.

Layout
------
``mftheory.validate.sweeping`` is a package; this module re-exports its API:

``grid``     constants (SCHEMA_VERSION, PARAMS, QUANTITIES, ...), SweepError, expand_grid, point_key
``task``     compute_point, the Dask task (submitted by its module path ``mftheory.validate.sweeping.task``), and the Arrow
             table of one point
``store``    atomic Parquet writing, the completeness check of a point file, the table's metadata (read_metadata)
``driver``   the Dask client and sweep
``spec``     TOML specs: builtin_specs, load_spec, parse_spec, run_spec
``figures``  final_rows, plot_sweep, fit_power_law, crossover_laziness, the figure_* functions and FIGURES
``command``  add_parser, cli, main (``python -m mftheory.validate sweep``)
"""
from __future__ import annotations

from mftheory.validate.sweeping.grid import (METADATA_KEY, N_FRESH, N_TEST, PARAMS, QUANTITIES, RETRIES, SCHEMA_VERSION,
                                    SETUP_FIELDS, WORKER_ENV, SweepError, expand_grid, point_key)
from mftheory.validate.sweeping.task import compute_point
from mftheory.validate.sweeping.store import read_metadata
from mftheory.validate.sweeping.driver import sweep
from mftheory.validate.sweeping.figures import (FIGURES, crossover_laziness, figure_finite_size, figure_label_noise,
                                       figure_overfitting, figure_phase, final_rows, fit_power_law, plot_sweep)
from mftheory.validate.sweeping.spec import builtin_specs, load_spec, parse_spec, run_spec
from mftheory.validate.sweeping.command import add_parser, cli, main

__all__ = ["sweep", "plot_sweep", "expand_grid", "point_key", "load_spec", "run_spec", "builtin_specs",
           "FIGURES", "SweepError",
           # also importable from here (tests, mftheory.validate.suite, the figures of a table)
           "parse_spec", "read_metadata", "compute_point", "final_rows", "fit_power_law", "crossover_laziness",
           "figure_phase", "figure_overfitting", "figure_finite_size", "figure_label_noise",
           "add_parser", "cli", "main",
           "SCHEMA_VERSION", "N_TEST", "N_FRESH", "SETUP_FIELDS", "PARAMS", "QUANTITIES", "WORKER_ENV", "RETRIES",
           "METADATA_KEY"]
