"""The CUDA backend of the simulator: argument handling, and its trajectory against the CPU backend.

No GPU is needed: the comparison runs the CUDA kernels under numba's CUDA simulator, which must be switched on
(NUMBA_ENABLE_CUDASIM=1) before numba is imported, hence in a subprocess.  It is skipped when the simulator
cannot run here.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mftheory.model import Setup
from mftheory.validate.simulator import simulate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_COMPARE = r"""
import json, sys
import numpy as np
from numba import cuda
from mftheory.model import Setup
from mftheory.validate.simulator import simulate

assert cuda.is_available()
out = {}
for name, changes, dtype in [("hinge-leaky-noise", dict(loss="hinge", activation="leaky_relu", label_noise=0.2), "float64"),
                             ("logistic-relu", dict(loss="logistic"), "float64"),
                             ("hinge-relu-float32", dict(loss="hinge"), "float32")]:
    setup = Setup(d=3, alpha=1.0, h=1.0, eta=5.0, M=4, **changes)
    kw = dict(N=64, steps=3, seed=1, n_test=40, record_steps=np.arange(4), dtype=np.dtype(dtype).type)
    g = simulate(setup, backend="cuda", **kw)
    c = simulate(setup, backend="cpu", **kw)
    rel = {k: float(np.max(np.abs(getattr(g, k) - getattr(c, k))) / np.max(np.abs(getattr(c, k))))
           for k in ("a", "w_par", "w_perp_norm", "a_final", "W_final")}
    same = {k: bool(np.array_equal(getattr(g, k), getattr(c, k)))
            for k in ("f_unsat", "train_error", "test_error", "t_sat")}
    moved = float(np.max(np.abs(g.a_final - g.a[0])))
    out[name] = dict(rel=rel, same=same, moved=moved, screened=bool(g.screened), evaluated=g.evaluated.tolist())
print("RESULT" + json.dumps(out))
"""


def test_unknown_backend_is_a_value_error():
    setup = Setup(d=3, alpha=1.0, h=1.0, eta=5.0, M=4)
    for bad in ("gpu", "CUDA", None, 1):
        with pytest.raises(ValueError, match="backend must be one of 'cpu', 'cuda'"):
            simulate(setup, N=10, steps=1, backend=bad)


def test_cuda_without_gpu_raises_a_clear_error():
    """Without a GPU (and without the simulator) backend="cuda" raises CudaUnavailableError, not a crash."""
    from mftheory.validate._cuda_kernels import CudaUnavailableError, cuda_status

    ok, _ = cuda_status()
    if ok:
        pytest.skip("a CUDA device (or the CUDA simulator) is available here")
    with pytest.raises(CudaUnavailableError, match="backend='cuda' is unavailable.*use backend='cpu'"):
        simulate(Setup(d=3, alpha=1.0, h=1.0, eta=5.0, M=4), N=10, steps=1, backend="cuda")
    assert issubclass(CudaUnavailableError, RuntimeError)


@pytest.mark.slow
def test_cuda_kernels_match_cpu_under_the_cuda_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        proc = subprocess.run([sys.executable, "-c", _COMPARE], env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=240)
    except subprocess.TimeoutExpired:
        pytest.skip("the numba CUDA simulator is too slow here")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    if proc.returncode != 0 or not lines:
        if "AssertionError" in proc.stderr and "assert cuda.is_available()" in proc.stderr:
            pytest.skip("numba's CUDA simulator cannot run here")
        raise AssertionError(f"CUDA-simulator run failed (exit status {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    out = json.loads(lines[-1][len("RESULT"):])
    for name, r in out.items():
        tol = 1e-5 if name.endswith("float32") else 1e-10
        assert r["moved"] > 1e-3, name
        for k, v in r["rel"].items():
            assert v < tol, (name, k, v)
        for k, v in r["same"].items():
            assert v, (name, k)
        assert r["screened"] is False and r["evaluated"] == [64] * 4, name


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_kernels_compile_to_ptx(dtype):
    """The real CUDA compilation (typing, lowering, NVVM) of the three kernels, without a GPU (cc 8.0)."""
    from numba import cuda, from_dtype, types

    from mftheory.validate import _cuda_kernels

    if cuda.__name__ != "numba.cuda" or not hasattr(cuda, "compile_ptx"):  # pragma: no cover
        pytest.skip("numba's CUDA target is not importable")
    forward, backward, update = _cuda_kernels.kernels(np.dtype(dtype))
    w = from_dtype(np.dtype(dtype))
    w2, w1, i1, d1, d2 = w[:, ::1], w[::1], types.int64[::1], types.float64[::1], types.float64[:, ::1]
    sigs = {forward: (w2, d1, w2, w1, w1, types.float64, types.int64, types.int64, types.boolean, w1, i1, i1, i1, i1),
            backward: (w2, w2, w1, w1, i1, i1, d1, d2),
            update: (d1, d2, d1, d2, w1, w2, types.float64, types.float64, i1, i1)}
    for kernel, sig in sigs.items():
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))
        except Exception as err:  # no libNVVM / CUDA toolkit here: typing errors would show as TypingError
            if "TypingError" in type(err).__name__ or "LoweringError" in type(err).__name__:
                raise
            pytest.skip(f"CUDA compilation unavailable here: {type(err).__name__}: {str(err)[:200]}")
        assert ".entry" in ptx
