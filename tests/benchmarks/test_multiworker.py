"""benchmarks/multiworker.py: its N-machine estimate is the ring all-reduce arithmetic its
documentation states (the two-worker runs it times are tested in tests/nmt/test_hardware.py)."""

import importlib.util
import os

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location(
    "multiworker", os.path.join(ROOT, "benchmarks", "multiworker.py"))
multiworker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(multiworker)


def test_one_machine_gains_nothing_and_a_free_network_gains_n():
    assert multiworker.estimated_speedup(1, 0.2, 50e6, 10) == 1.0
    assert abs(multiworker.estimated_speedup(8, 0.2, 50e6, 1e9) - 8) < 1e-3


def test_the_all_reduce_sends_two_n_minus_one_over_n_of_the_gradient():
    # 4 machines, 100 MB, 8 Gbit/s = 1 GB/s: 2 * 3/4 * 0.1 s = 0.15 s after a 0.15 s step.
    assert abs(multiworker.estimated_speedup(4, 0.15, 100e6, 8) - 2.0) < 1e-9
