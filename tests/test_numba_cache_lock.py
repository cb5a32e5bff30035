"""Two processes that compile different signatures of one cached function at the same time keep numba's cache
whole once mftheory's lock is installed (numba/numba#4807); without it the same timing loses one entry."""
import os
import pickle
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("fcntl")

KERNEL = textwrap.dedent("""
    import numba

    @numba.njit(cache=True)
    def twice(x):
        return 2 * x
""")

# Each process holds every index write for two seconds (so that both have read the empty index before either writes
# it), and the first also holds its data write for two more: the ordering that pairs one signature's index entry
# with the other's machine code when nothing serializes the saves.
COMPILER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, os.environ["KERNEL_DIR"])
    if os.environ["LOCK"] == "1":
        import mftheory  # noqa: F401  (installs the lock)
    from numba.core import caching

    save_index, save_data = caching.IndexDataCacheFile._save_index, caching.IndexDataCacheFile._save_data

    def slow_save_index(self, overloads):
        time.sleep(2.0)
        save_index(self, overloads)

    def slow_save_data(self, name, data):
        time.sleep(float(os.environ["DATA_DELAY"]))
        save_data(self, name, data)

    caching.IndexDataCacheFile._save_index, caching.IndexDataCacheFile._save_data = slow_save_index, slow_save_data
    import kernel
    # a barrier: both processes compile at once, whatever their import times
    open(os.path.join(os.environ["KERNEL_DIR"], "ready_" + os.environ["ARG"]), "w").close()
    deadline = time.time() + 60
    while not all(os.path.exists(os.path.join(os.environ["KERNEL_DIR"], "ready_" + a)) for a in ("int", "float")):
        if time.time() > deadline:
            raise SystemExit("the other process never got ready")
        time.sleep(0.01)
    print(kernel.twice(int(3) if os.environ["ARG"] == "int" else 3.5))
""")

LOADER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, os.environ["KERNEL_DIR"])
    import mftheory  # noqa: F401
    import kernel
    print(kernel.twice(3), kernel.twice(3.5), sum(kernel.twice.stats.cache_hits.values()))
""")


def _compile_concurrently(tmp_path, lock: bool):
    (tmp_path / "kernel.py").write_text(KERNEL)
    env = dict(os.environ, KERNEL_DIR=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / "cache"), LOCK=str(int(lock)))
    processes = [subprocess.Popen([sys.executable, "-c", COMPILER], env=dict(env, ARG=arg, DATA_DELAY=delay),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for arg, delay in (("int", "2.0"), ("float", "0.0"))]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    assert [o[0].split() for o in outputs] == [["6"], ["7.0"]]
    (index,) = (tmp_path / "cache").rglob("*twice*.nbi")
    with open(index, "rb") as f:
        pickle.load(f)
        _, overloads = pickle.loads(f.read())
    return env, overloads


def test_locked_saves_keep_both_signatures_and_load_them_back(tmp_path):
    env, overloads = _compile_concurrently(tmp_path, lock=True)
    assert len(overloads) == 2 and len(set(overloads.values())) == 2
    loaded = subprocess.run([sys.executable, "-c", LOADER], env=env, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["6", "7.0", "2"]   # both from the cache, each its own machine code


def test_without_the_lock_the_same_timing_loses_an_entry(tmp_path):
    """The control: numba's unlocked save, same processes and delays; one signature's entry is overwritten."""
    _, overloads = _compile_concurrently(tmp_path, lock=False)
    assert len(overloads) == 1


def test_a_file_system_without_flock_or_a_missing_folder_keeps_numbas_behaviour(tmp_path, monkeypatch):
    from mftheory import numba_cache_lock

    def refuse(*_):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(numba_cache_lock.fcntl, "flock", refuse)
    entered = []
    with numba_cache_lock._locked(str(tmp_path / "f.nbi"), exclusive=True):
        entered.append(1)
    with numba_cache_lock._locked(str(tmp_path / "missing" / "f.nbi"), exclusive=False):
        entered.append(2)
    assert entered == [1, 2]
