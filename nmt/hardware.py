"""Where training runs: tf.distribute strategies, logical CPU devices, precision and XLA.

Example:
>>> resolve_precision("float32")
'float32'
>>> get_strategy("default").num_replicas_in_sync
1
"""

import contextlib

import keras
import tensorflow as tf

STRATEGY_CHOICES = ("default", "mirrored", "multiworker")
PRECISION_CHOICES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
JIT_COMPILE_CHOICES = ("auto", "on", "off")


def get_strategy(name):
    """The tf.distribute strategy for `name`.

    "mirrored": all local GPUs (or the logical devices TensorFlow was given), one replica each;
    "multiworker": several machines described by the TF_CONFIG environment variable;
    "default": one device. The global batch (`batch_size`) is split across replicas.
    """
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        devices = [d.name for d in (gpus or (cpus if len(cpus) > 1 else []))] or None
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name != "default":
        raise ValueError(f"strategy={name!r} is not one of {STRATEGY_CHOICES}")
    return tf.distribute.get_strategy()


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


def cpu_has_bfloat16():
    """True when this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX-BF16 flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


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
    mixed_float16 on GPUs without bfloat16, float32 otherwise."""
    if precision != "auto":
        return precision
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get(
            "compute_capability", (0, 0))
        return "mixed_bfloat16" if tuple(capability) >= (8, 0) else "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"
