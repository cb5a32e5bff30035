"""A cached function without ``parallel=True`` that calls one with it, compiled in a process that loaded the callee
from the cache, runs in a fresh process once mftheory is imported (numba/numba#8578); without mftheory's hook the
same cache crashes that process with a segmentation fault (the control). This is how the simulator's step kernel
crashed a notebook kernel and a subprocess in CI, where pytest-xdist workers fill the cache in turn."""
import os
import signal
import subprocess
import sys
import textwrap

KERNEL = textwrap.dedent("""
    import numba
    import numpy as np

    @numba.njit(cache=True, parallel=True)
    def inner(n):
        out = np.zeros(n)
        for i in numba.prange(n):
            out[i] = 2.0 * i
        return out

    @numba.njit(cache=True)
    def outer(n):
        return inner(n).sum()
""")

RUN = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, os.environ["KERNEL_DIR"])
    if os.environ["HOOK"] == "1":
        import mftheory  # noqa: F401  (installs the hook)
    import kernel, numpy
    print(float(numpy.sum(getattr(kernel, os.environ["CALL"])(1000))))
""")


def _run(env, call, hook):
    return subprocess.run([sys.executable, "-c", RUN], env=dict(env, CALL=call, HOOK=str(int(hook))),
                          capture_output=True, text=True, timeout=300)


def _cache_outer_without_its_hook(tmp_path):
    """The callee compiled and cached by one process; the caller compiled by the next, the callee loaded."""
    (tmp_path / "kernel.py").write_text(KERNEL)
    env = dict(os.environ, KERNEL_DIR=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="2")
    for call in ("inner", "outer"):
        done = _run(env, call, hook=False)
        assert done.returncode == 0 and float(done.stdout) == 999000.0, done
    return env


def test_a_fresh_process_runs_the_cached_caller_of_a_parallel_loop(tmp_path):
    env = _cache_outer_without_its_hook(tmp_path)
    done = _run(env, "outer", hook=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout) == 999000.0


def test_without_the_hook_the_same_cache_crashes_a_fresh_process(tmp_path):
    """The control: the same cache, numba alone. If numba starts to record the hook itself this fails, and the
    module can go."""
    env = _cache_outer_without_its_hook(tmp_path)
    done = _run(env, "outer", hook=False)
    assert done.returncode == -signal.SIGSEGV, (done.returncode, done.stdout, done.stderr[-2000:])


def test_only_code_with_parallel_loops_is_recognised():
    from mftheory.numba_cache_parfors import runs_parallel_loops

    assert runs_parallel_loops((("lib", "object", (b"..call numba_parallel_for..",)), None))
    assert not runs_parallel_loops((("lib", "object", (b"plain code",)), None))
    assert not runs_parallel_loops(None) and not runs_parallel_loops(())
