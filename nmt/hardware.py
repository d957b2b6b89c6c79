"""Where training runs: tf.distribute strategies, logical CPU devices, precision and XLA.

Example:
>>> resolve_precision("float32")
'float32'
>>> get_strategy("default").num_replicas_in_sync
1
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import zlib

import keras
import numpy as np
import tensorflow as tf

from data.errors import NmtError

STRATEGY_CHOICES = ("default", "mirrored", "multiworker")
PRECISION_CHOICES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
JIT_COMPILE_CHOICES = ("auto", "on", "off")


class ClusterError(NmtError):
    """A multi-worker cluster that cannot run: TF_CONFIG, an unreachable or failed peer."""


def get_strategy(name, cluster_timeout=300):
    """The tf.distribute strategy for `name`.

    "mirrored": all local GPUs (or the logical devices TensorFlow was given), one replica each;
    "multiworker": several machines described by the TF_CONFIG environment variable (it must be
    created before TensorFlow runs any op, and waits at most `cluster_timeout` seconds for every
    worker to start); "default": one device. The global batch (`batch_size`) is split across
    replicas.
    """
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        devices = [d.name for d in (gpus or (cpus if len(cpus) > 1 else []))] or None
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        return _multiworker_strategy(cluster_timeout)
    if name != "default":
        raise ValueError(f"strategy={name!r} is not one of {STRATEGY_CHOICES}")
    return tf.distribute.get_strategy()


def read_tf_config(environ=None):
    """The cluster in TF_CONFIG: (`{job: [address, ...]}`, this task's job, this task's index).

    >>> read_tf_config({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, '
    ...                 '"task": {"type": "worker", "index": 1}}'})
    ({'worker': ['a:1', 'b:2']}, 'worker', 1)
    >>> read_tf_config({})
    Traceback (most recent call last):
    ...
    nmt.hardware.ClusterError: --strategy multiworker needs the TF_CONFIG environment variable (the cluster's addresses and this worker's place in it); see docs/multiworker.md
    """
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG", "")
    if not text.strip():
        raise ClusterError("--strategy multiworker needs the TF_CONFIG environment variable (the "
                           "cluster's addresses and this worker's place in it); see "
                           "docs/multiworker.md")
    try:
        value = json.loads(text)
        cluster, task = value["cluster"], value["task"]
        job, index = task["type"], task["index"]
        addresses = cluster[job]
    except (ValueError, KeyError, TypeError) as error:
        raise ClusterError(f"TF_CONFIG: not a valid cluster description ({type(error).__name__}: "
                           f"{error}); it needs \"cluster\" and \"task\", see "
                           "docs/multiworker.md") from None
    if not isinstance(index, int) or not 0 <= index < len(addresses):
        raise ClusterError(f"TF_CONFIG: task index {index!r} is not one of the {len(addresses)} "
                           f"{job} addresses")
    return cluster, job, index


def tf_config(addresses, index, job="worker"):
    """The TF_CONFIG of task `index` of a cluster of `job` tasks at `addresses` ("host:port").

    >>> tf_config(["127.0.0.1:2222", "127.0.0.1:2223"], 1)
    '{"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}, "task": {"type": "worker", "index": 1}}'
    """
    return json.dumps({"cluster": {job: list(addresses)}, "task": {"type": job, "index": index}})


def local_addresses(count):
    """`count` "127.0.0.1:PORT" addresses on ports free now (a cluster of processes on this
    machine, as the tests and benchmarks/multiworker.py start)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _multiworker_strategy(cluster_timeout):
    """MultiWorkerMirroredStrategy, or a one-line error and the end of this process when the
    cluster is not complete within `cluster_timeout` seconds.

    TensorFlow waits for every worker of TF_CONFIG forever, inside C++ holding Python's lock, so
    the wait is watched from a small separate process (`_WATCHDOG`) that ends this one."""
    cluster, job, index = read_tf_config()
    own = cluster[job][index]
    peers = [address for name in cluster for address in cluster[name] if address != own]
    message = (f"nmt train: error: {job} {index} ({own}): the cluster in TF_CONFIG did not come "
               f"together within {cluster_timeout} s (--cluster-timeout); not reachable: {{}}; "
               "start every worker, each with the same cluster in TF_CONFIG")
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(cluster_timeout), message,
         *peers], stdin=subprocess.PIPE)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        if "program startup" in str(error):
            raise ClusterError("--strategy multiworker must start in a new process: TensorFlow "
                               "has already run operations in this one") from None
        raise
    except tf.errors.UnknownError as error:
        if "gRPC server" in str(error):
            raise ClusterError(f"{job} {index}: cannot listen at {own} (from TF_CONFIG): is the "
                               "port taken, or the address not this machine's?") from None
        raise
    finally:
        watchdog.stdin.close()  # the watchdog's signal to leave
        watchdog.wait()


# Run as `python -c _WATCHDOG PID SECONDS MESSAGE PEER...`: wait for standard input to close (the
# strategy is made, or the process is gone); after SECONDS, print MESSAGE with the peers that
# accept no connection and end process PID.
_WATCHDOG = """
import os, select, signal, socket, sys
pid, seconds, message, peers = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:]
if not select.select([sys.stdin], [], [], seconds)[0]:
    def down(address):
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
            return False
        except (OSError, ValueError):
            return True
    missing = [address for address in peers if down(address)]
    sys.stderr.write(message.format(", ".join(missing) or "none now") + "\\n")
    sys.stderr.flush()
    os.kill(pid, signal.SIGKILL)  # TensorFlow handles SIGTERM itself
"""


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """This process's place in a tf.distribute cluster.

    Args:
        chief: bool. The one worker that writes the run folder.
        index: int. The task index in TF_CONFIG (0 for a single process).
        workers: int. Processes training together (1 for a single process).
        address: str. This worker's address ("" for a single process).
    """

    chief: bool = True
    index: int = 0
    workers: int = 1
    address: str = ""


def worker_role(strategy):
    """The `WorkerRole` of this process under `strategy`: the chief is the "chief" task when
    TF_CONFIG has one, else worker 0 (Keras' rule).

    >>> worker_role(tf.distribute.get_strategy())
    WorkerRole(chief=True, index=0, workers=1, address='')
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return WorkerRole()
    cluster, job, index = read_tf_config()
    workers = sum(len(addresses) for name, addresses in cluster.items()
                  if name in ("chief", "worker"))
    chief = job == "chief" or (job == "worker" and index == 0 and "chief" not in cluster)
    return WorkerRole(chief=chief, index=index, workers=workers, address=cluster[job][index])


def peer_addresses(message, own=""):
    """The TF_CONFIG addresses of the tasks ("/job:worker/replica:0/task:N") an error `message`
    names, `own` left out."""
    try:
        cluster, _, _ = read_tf_config()
    except ClusterError:
        return []
    found = []
    for job, task in re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", message or ""):
        addresses = cluster.get(job, [])
        address = addresses[int(task)] if int(task) < len(addresses) else None
        if address and address != own and address not in found:
            found.append(address)
    return found


def sum_across_workers(strategy, values):
    """The sum over the workers of each one's float64 `values` (a 1-D list of one length on every
    worker). A collective: every worker must call it at the same point of the program."""
    mine = tf.constant(np.asarray(values, dtype="float64"))
    local = len(strategy.extended.worker_devices)  # replicas on this worker (its GPUs, or 1)

    def first_local_replica_sends():
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return mine if local == 1 else tf.where(replica % local == 0, mine, tf.zeros_like(mine))

    @tf.function
    def reduce():
        return strategy.reduce(tf.distribute.ReduceOp.SUM,
                               strategy.run(first_local_replica_sends), axis=None)

    return np.asarray(reduce())


def broadcast_variables(strategy, role, variables):
    """Set `variables` (Keras variables) on every worker to the chief's values, exactly
    (a sum where the other workers send zeros). A collective: every worker calls it."""
    if role.workers == 1 or not variables:
        return
    flat = np.concatenate([np.asarray(v.numpy(), dtype="float64").ravel() for v in variables])
    flat = sum_across_workers(strategy, flat if role.chief else np.zeros_like(flat))
    begin = 0
    for v in variables:
        size = int(np.prod(v.shape))
        v.assign(flat[begin:begin + size].reshape(v.shape).astype(v.dtype))
        begin += size


def shard_by_data(dataset):
    """`dataset` with the DATA auto-shard policy: every worker builds the same (seeded) batches
    and keeps its share of each global batch, so a step sees the batch a single process would
    and every worker runs the same number of steps (the data is in memory: no files to shard)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


@contextlib.contextmanager
def worker_errors(role):
    """A lost peer (TensorFlow aborts the collectives of a cluster whose worker is down)
    becomes a one-line `ClusterError` naming it."""
    if role.workers == 1:
        yield
        return
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.DeadlineExceededError,
            tf.errors.FailedPreconditionError, tf.errors.AbortedError) as error:
        peers = peer_addresses(str(error), own=role.address)
        raise ClusterError(f"worker {role.index} ({role.address}): lost the cluster"
                           + (f": the worker at {', '.join(peers)} is down or restarted" if peers
                              else f" ({type(error).__name__})")
                           + "; start every worker again with the same command to resume from "
                           "the last completed epoch") from None


def weights_sha256(model):
    """A sha256 of `model`'s weights, in order (to check two copies of a model are the same).

    >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="ones")])
    >>> weights_sha256(m)[:12]
    '5f2fa7795ceb'
    """
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


def fingerprint(text):
    """A 32-bit checksum of `text`, exact in float64 (to compare settings across workers)."""
    return zlib.crc32(text.encode())


def use_logical_cpus(count):
    """Split the CPU into `count` logical devices (to run tf.distribute on a machine with no GPU).

    Must run before TensorFlow initializes its devices (before any op).
    """
    if count < 1:
        raise ValueError(f"count={count} must be >= 1")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    # MirroredStrategy() picks GPUs only; with none, it uses the logical CPUs given here.
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def resolve_jit_compile(jit_compile, strategy="default"):
    """XLA on or off: "auto" turns it on only with a GPU and no distribution strategy (XLA
    recompiles per batch shape; on a CPU it was measured much slower, benchmarks/README.md)."""
    if jit_compile == "auto":
        return bool(tf.config.list_physical_devices("GPU")) and strategy == "default"
    return jit_compile == "on"


# The CPU flags that decide the speed of training and decoding here (matrix products).
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")


def _cpuinfo():
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


# oneDNN's instruction sets (ONEDNN_MAX_CPU_ISA) below AVX512_CORE_BF16: no native bfloat16
# matmul. Limited to the first four, TensorFlow's bfloat16 matmul aborts the process (measured
# with AVX2 and AVX2_VNNI; AVX512_CORE and AVX512_CORE_VNNI emulate it).
ISAS_WITHOUT_BFLOAT16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI")
ISAS_WITHOUT_BFLOAT16_MATMUL = ISAS_WITHOUT_BFLOAT16[:4]


class PrecisionError(NmtError):
    """A precision this machine cannot compute in."""


def onednn_max_isa():
    """The instruction set oneDNN is limited to (`ONEDNN_MAX_CPU_ISA`, upper case; "" unset)."""
    return os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()


def cpu_has_bfloat16(cpuinfo=None, max_isa=None):
    """True when this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX-BF16 flags) and
    oneDNN may use it: `ONEDNN_MAX_CPU_ISA` (`max_isa`, read from the environment when None)
    does not limit it to an instruction set without bfloat16 (there TensorFlow's bfloat16
    matmul aborts the process). `cpuinfo`: the text of /proc/cpuinfo, read when None.

    >>> cpu_has_bfloat16("flags : avx2 avx512f avx512_bf16\\n", max_isa="")
    True
    >>> cpu_has_bfloat16("flags : avx2 avx512f avx512_bf16\\n", max_isa="avx2")
    False
    """
    if (onednn_max_isa() if max_isa is None else max_isa.upper()) in ISAS_WITHOUT_BFLOAT16:
        return False
    flags = (_cpuinfo() if cpuinfo is None else cpuinfo).split()
    return bool(set(flags) & {"avx512_bf16", "amx_bf16"})


def cpu_description(cpuinfo=None):
    """This CPU in one line: its model name, logical cores and which of `SPEED_FLAGS` it has
    (`cpuinfo`: the text of /proc/cpuinfo, read when None).

    >>> cpu_description("model name : Example CPU\\nflags : fpu avx2 fma\\n")
    'Example CPU, 1 logical cores, avx2 (no avx512f, avx512_vnni, avx512_bf16, amx_bf16)'
    """
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    lines = [line.split(":", 1) for line in text.splitlines() if ":" in line]
    name = next((value.strip() for key, value in lines if key.strip() == "model name"),
                "unknown CPU")
    flags = set(next((value.split() for key, value in lines if key.strip() == "flags"), []))
    cores = sum(key.strip() == "processor" for key, _ in lines) or (
        1 if cpuinfo is not None else os.cpu_count())
    have = [flag for flag in SPEED_FLAGS if flag in flags]
    lack = [flag for flag in SPEED_FLAGS if flag not in flags]
    if not have:
        return f"{name}, {cores} logical cores, none of {', '.join(SPEED_FLAGS)}"
    return f"{name}, {cores} logical cores, {', '.join(have)}" + (
        f" (no {', '.join(lack)})" if lack else "")


@contextlib.contextmanager
def build_precision(precision):
    """Layers built inside take the dtype policy of `precision` ("auto" resolved); the previous
    policy is back afterwards."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def resolve_precision(precision):
    """The Keras dtype policy for `precision`; "auto" picks mixed_bfloat16 on hardware that
    computes in bfloat16 (faster at the same accuracy at equal tokens, benchmarks/README.md),
    mixed_float16 on GPUs without bfloat16, float32 otherwise. Raises `PrecisionError` for
    mixed_bfloat16 on a CPU whose oneDNN is limited to AVX2 or less (it would abort there)."""
    gpus = tf.config.list_physical_devices("GPU")
    max_isa = onednn_max_isa()
    if precision == "mixed_bfloat16" and not gpus and max_isa in ISAS_WITHOUT_BFLOAT16_MATMUL:
        raise PrecisionError(
            f"precision='mixed_bfloat16' (--precision): ONEDNN_MAX_CPU_ISA={max_isa} leaves "
            "TensorFlow no bfloat16 matmul on this CPU; unset ONEDNN_MAX_CPU_ISA, or train "
            "with --precision float32 or auto")
    if precision != "auto":
        return precision
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get(
            "compute_capability", (0, 0))
        return "mixed_bfloat16" if tuple(capability) >= (8, 0) else "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"
