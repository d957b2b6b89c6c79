"""nmt/hardware.py: strategies and cluster roles, and real multi-worker training: two
`nmt train --strategy multiworker` processes on 127.0.0.1 (slow tests, new processes)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from nmt import hardware
from nmt.hardware import (ClusterError, WorkerRole, get_strategy, local_addresses,
                          peer_addresses, read_tf_config, resolve_precision, tf_config,
                          weights_sha256, worker_role)
from tests.conftest import ROOT

# One global batch of 32 on both sides; no dropout, so the two runs do the same arithmetic.
COMMON = ("--preset", "tiny", "--max-pairs", "3000", "--steps-per-epoch", "4", "--batch-size",
          "32", "--batching", "fixed", "--dropout", "0", "--quiet")


def start_workers(out, corpus_path, tmp, *args, count=2, only=None):
    """Start `count` workers of one cluster (or only the indices in `only`), each with TMPDIR
    `tmp` (where the workers that are not the chief keep their folders); return the processes."""
    addresses = local_addresses(count)
    os.makedirs(tmp, exist_ok=True)
    processes = []
    for index in (only if only is not None else range(count)):
        env = dict(os.environ, TF_CONFIG=tf_config(addresses, index), TMPDIR=str(tmp),
                   TF_CPP_MIN_LOG_LEVEL="3")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "nmt", "train", "--strategy", "multiworker", "--out",
             str(out), "--corpus", corpus_path, *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return addresses, processes


def finish(processes, timeout=300):
    return [(p.wait(timeout=timeout), p.stdout.read(), p.stderr.read()) for p in processes]


def worker_folders(tmp):
    return [name for name in os.listdir(tmp) if name.startswith("nmt-worker-")]


def history_rows(run):
    with open(os.path.join(run, "history.csv")) as f:
        return list(csv.DictReader(f))


# Roles and TF_CONFIG, in this process.


@pytest.mark.parametrize("max_isa, expected", [
    ("", "mixed_bfloat16"), ("AVX512_CORE_BF16", "mixed_bfloat16"), ("avx512_core_amx",
                                                                     "mixed_bfloat16"),
    ("AVX2", "float32"), ("avx2", "float32"), ("AVX512_CORE", "float32"),
    ("AVX512_CORE_VNNI", "float32")])
def test_auto_precision_is_float32_where_onednn_is_limited_below_bfloat16(monkeypatch, max_isa,
                                                                          expected):
    # A bfloat16 CPU whose oneDNN is limited to AVX2 aborts in its first bfloat16 matmul
    # ("could not create a primitive descriptor"): auto must pick float32 there.
    monkeypatch.setattr(hardware, "_cpuinfo", lambda: "flags : avx2 avx512f avx512_bf16\n")
    monkeypatch.setattr(hardware.tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", max_isa)
    assert resolve_precision("auto") == expected
    assert resolve_precision("float32") == "float32"


@pytest.mark.parametrize("max_isa", ["AVX2", "avx2_vnni"])
def test_bfloat16_where_onednn_has_no_bfloat16_matmul_is_a_one_line_error(monkeypatch, max_isa):
    monkeypatch.setattr(hardware.tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", max_isa)
    with pytest.raises(hardware.PrecisionError, match=f"ONEDNN_MAX_CPU_ISA={max_isa.upper()} "
                       "leaves TensorFlow no bfloat16 matmul") as error:
        resolve_precision("mixed_bfloat16")
    assert "\n" not in str(error.value) and "--precision float32" in str(error.value)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")  # emulated there: allowed
    assert resolve_precision("mixed_bfloat16") == "mixed_bfloat16"


def test_auto_precision_is_float32_on_a_cpu_without_bfloat16(monkeypatch):
    monkeypatch.setattr(hardware, "_cpuinfo", lambda: "flags : avx2 fma\n")
    monkeypatch.setattr(hardware.tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert resolve_precision("auto") == "float32"


def test_one_process_is_the_chief_of_a_cluster_of_one():
    assert worker_role(get_strategy("default")) == WorkerRole(chief=True, index=0, workers=1)


def test_tf_config_is_read_and_bad_ones_are_one_line_errors():
    good = {"TF_CONFIG": tf_config(["a:1", "b:2"], 1)}
    assert read_tf_config(good) == ({"worker": ["a:1", "b:2"]}, "worker", 1)
    with pytest.raises(ClusterError, match="needs the TF_CONFIG environment variable"):
        read_tf_config({})
    with pytest.raises(ClusterError, match="TF_CONFIG: not a valid cluster description"):
        read_tf_config({"TF_CONFIG": "{not json"})
    with pytest.raises(ClusterError, match="task index 2 is not one of the 2 worker addresses"):
        read_tf_config({"TF_CONFIG": tf_config(["a:1", "b:2"], 2)})


def test_a_lost_peer_is_named_by_its_address(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config(["127.0.0.1:1", "127.0.0.1:2"], 0))
    message = ("cluster check alive failed, /job:worker/replica:0/task:1 is down; "
               "seen from /job:worker/replica:0/task:0")
    assert peer_addresses(message, own="127.0.0.1:1") == ["127.0.0.1:2"]


def test_multiworker_without_tf_config_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    from nmt.cli import main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = main(["train", "--strategy", "multiworker", "--preset", "tiny",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "TF_CONFIG" in err
    assert not os.path.exists(tmp_path / "run")


# Two real workers (new processes on 127.0.0.1).


@pytest.mark.slow
def test_two_workers_train_like_one_process_and_only_the_chief_writes(tmp_path, corpus_path,
                                                                       capsys):
    from nmt.cli import main

    # The one-process reference trains here, in this process (the same command, one worker).
    assert main(["train", "--out", str(tmp_path / "single"), "--corpus", corpus_path,
                 "--epochs", "2", *COMMON]) == 0
    run, tmp = tmp_path / "cluster", tmp_path / "tmp"
    _, processes = start_workers(run, corpus_path, tmp, "--epochs", "2", *COMMON)
    results = finish(processes)
    for code, out, err in results:
        assert code == 0, out[-2000:] + err[-3000:]
        assert "2 replicas on 2 workers, 16 sentences each per batch" in out
    # The chief alone wrote the run; the other worker's folder is gone.
    assert os.path.isfile(run / "model.keras") and worker_folders(tmp) == []
    assert json.load(open(run / "train_state.json"))["workers"] == 2
    # Both workers ended with the same weights, and those are the saved model's.
    sums = [line.rsplit(" ", 1)[1] for _, out, _ in results for line in out.splitlines()
            if "final weights sha256" in line]
    assert len(sums) == 2 and sums[0] == sums[1]
    from nmt.translator import Translator

    assert weights_sha256(Translator.load(str(run)).model) == sums[0]
    # Same seed, same global batches: the losses agree up to how the replicas split the tokens.
    for one, two in zip(history_rows(tmp_path / "single"), history_rows(run)):
        for key in ("loss", "val_loss"):
            a, b = float(one[key]), float(two[key])
            assert abs(a - b) <= 0.01 * a, (key, a, b)
    capsys.readouterr()
    assert main(["translate", "--run", str(run), "Go."]) == 0
    assert capsys.readouterr().out.count("\n") == 1


@pytest.mark.slow
def test_a_worker_killed_mid_epoch_and_the_cluster_restarted_resumes(tmp_path, corpus_path):
    run, tmp = tmp_path / "cluster", tmp_path / "tmp"
    args = ("--epochs", "3", *COMMON[:5], "30", *COMMON[6:])  # 30 steps an epoch
    _, (chief, other) = start_workers(run, corpus_path, tmp, *args)
    deadline = time.time() + 240
    while not os.path.exists(run / "backup" / "state.json") and time.time() < deadline:
        time.sleep(0.2)
    assert chief.poll() is None and other.poll() is None, "the cluster stopped early"
    other.send_signal(signal.SIGKILL)
    other.wait()
    # The chief notices within TensorFlow's heartbeat timeout and says so in one line.
    code, _, err = finish([chief], timeout=120)[0]
    lines = [line for line in err.splitlines() if line.startswith("nmt train: error:")]
    assert code == 2 and len(lines) == 1 and "lost the cluster" in lines[0], err[-2000:]
    assert not os.path.exists(run / "model.keras")
    # The same command again, on every worker: training continues after the backed-up epoch.
    _, processes = start_workers(run, corpus_path, tmp, *args)
    for code, out, err in finish(processes):
        assert code == 0, out[-2000:] + err[-3000:]
        assert "continuing after epoch" in out and "Epoch 1/3" not in out
    assert [int(row["epoch"]) for row in history_rows(run)] == [0, 1, 2]  # each epoch once
    assert worker_folders(tmp) == []  # the killed worker's folder was replaced, then removed


@pytest.mark.slow
def test_a_worker_whose_peers_never_start_fails_in_bounded_time(tmp_path, corpus_path):
    started = time.time()
    addresses, processes = start_workers(tmp_path / "run", corpus_path, tmp_path / "tmp",
                                         "--cluster-timeout", "5", *COMMON, only=[0])
    code, _, err = finish(processes, timeout=120)[0]
    assert code != 0 and time.time() - started < 90
    lines = [line for line in err.splitlines() if line.startswith("nmt train: error:")]
    assert len(lines) == 1 and f"not reachable: {addresses[1]}" in lines[0], err[-2000:]
