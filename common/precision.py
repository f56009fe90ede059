"""--precision: float32 everywhere, or matrix products in bfloat16 where the hardware has it.

With bfloat16, TensorFlow's own mixed-precision rewrite changes the graph when the session
starts: matrix products (and the few operations around them that it judges safe) read bfloat16
copies of their inputs and accumulate in float32, while the weights, Adam's slots, the losses and
the checkpoints stay float32. On a CPU this is oneDNN's rewrite, and it pays where the CPU
multiplies bfloat16 natively (AVX512_BF16 or AMX); elsewhere it would only emulate it, so the
run stays float32 and says so. On a GPU it is TensorFlow's CUDA rewrite, which computes in
float16 rather than bfloat16. float32 is the default: it is bit-reproducible on a given machine
with the same number of threads (docs/part4.md).
"""
import sys

import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

CHOICES = ("float32", "bfloat16")
CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo's names for native bfloat16 arithmetic


def cpu_has_bfloat16():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:  # not Linux: no way to tell here
        return False
    return any(flag in flags for flag in CPU_FLAGS)


def has_gpu():
    return bool(tf.config.list_physical_devices("GPU"))


def effective(precision):
    """The precision a run asking for `precision` gets on this machine."""
    if precision == "bfloat16" and not (has_gpu() or cpu_has_bfloat16()):
        return "float32"
    return precision


def session_config(precision):
    """The Session's ConfigProto for `precision`; says in one line when bfloat16 cannot be had."""
    config = tf.ConfigProto()
    if precision == "bfloat16":
        rewrite = config.graph_options.rewrite_options
        if has_gpu():
            rewrite.auto_mixed_precision = rewriter_config_pb2.RewriterConfig.ON
        elif cpu_has_bfloat16():
            rewrite.auto_mixed_precision_onednn_bfloat16 = rewriter_config_pb2.RewriterConfig.ON
        else:
            print("--precision bfloat16: this CPU has no bfloat16 arithmetic (AVX512_BF16 or AMX); "
                  "running in float32.", file=sys.stderr)
    return config
