"""How fast each lesson trains, against the fastest matrix products and Adam updates this machine
can do.

    python bench/speed.py            # the full measurement (10 to 12 minutes on 2 cores)
    python bench/speed.py --quick    # checks that it works: a few iterations, 128-unit networks

For each of the four scripts it builds the real training graph with the script's own
`build_graph()` (default flags, batches of 100) and times the script's own loop body,
`next_feed()` then `train_step()`, as `train()` runs it. Per script it prints:

- it/s: iterations per second after a warm-up, the median of several windows of a few seconds
  (a median shrugs off a window that some other program disturbed);
- GFLOP/it: the floating-point operations of one iteration's matrix products, counted as 2*m*k*n
  for each MatMul that the iteration executes. Which ones: a stand-in for the Session is passed
  to `train_step()` and records what each of its `sess.run` calls fetches and feeds; the ops a
  call executes are found by walking the graph back from the fetches (see `executed_ops()`), and
  their operands' sizes are read as that call fed them. A traced iteration must show
  as many matrix-product kernels, or the benchmark stops. Biases and activations cost a few
  operations per number and are left out, as rooflines usually do;
- roofline it/s: iterations per second if the iteration did only what it must, each part as fast
  as this machine does it alone: every one of those products as fast as the fastest float32
  matrix product this machine offers for its shape and layout, numpy's (OpenBLAS, with the best
  kernel it has for this CPU) or TensorFlow's own, each timed alone on exactly those products,
  forward and backward, in the same run; then the iteration's Adam updates, timed alone (below);
- achieved/roofline: the first over the second. 1.0 would mean TensorFlow multiplies and updates
  as fast as it can alone and spends no time on anything else;
- products it/s and achieved/products: the same against the products alone, the usual roofline,
  which leaves Adam's updates out as if they cost nothing;
- plain it/s and speed-up: the same graph and loop under TensorFlow's defaults (oneDNN off,
  default thread pools), and how many times faster the scripts' own settings are;
- s/epoch: seconds per epoch at the measured speed (550 iterations for parts 1-3; 540 for part 4,
  whose 1,000 labelled images are not part of the unlabelled epoch);
- same maths: speed must not change the results. Both float32 configurations train their first
  iterations from the same seed; the losses of those iterations and the weights after them must
  agree to float32 tolerance (see COMPARED_ITERATIONS). If they do not, the exit status is 1.

Where the CPU multiplies bfloat16 natively (AVX512_BF16 or AMX; see common/precision.py), a
second table measures `--precision bfloat16` the same way, against a bfloat16 roofline: each
product timed in bfloat16 by TensorFlow (numpy has no bfloat16). A third shows where one
iteration's time goes in the fast configuration (and, in a table of its own, in bfloat16): the
iteration as timed, then iterations traced one kernel at a time (one inter-op thread, so that the
kernels' times add up rather than overlap): the traced iteration, its time in matrix-product
kernels, in Adam's updates, in casts (the copies to and from bfloat16 that its rewrite adds), in
all other kernels, the gaps between kernels (the executor's own work), and `next_feed()`.
Adam's updates are no arithmetic to speak of but move memory: each reads a weight, its gradient
and its two slots and writes three of them back, 28 bytes a float32 weight. The roofline counts
them as it would count any memory-bound kernel, at the best this machine does: the updates of one
iteration, timed alone on variables of the same shapes (see `adam_alone()`); a fourth table shows
them. A fifth runs each script itself for two epochs and shows how much of its second epoch went
to summaries, evaluation, figures and the checkpoint rather than training.

How it runs: oneDNN is switched on or off when TensorFlow is imported (the `common` package turns
it on unless the environment says otherwise), so each configuration runs in a child process of its
own (this file with the hidden `--child` flag), one after the other. The fast child keeps the
environment it was started with, so it measures the settings the scripts choose themselves; the
plain one gets TF_ENABLE_ONEDNN_OPTS=0 and no thread settings. numpy's products are timed in a
child of their own, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its environment (some
machines set them to hold OpenBLAS to older kernels): that child prints which kernel OpenBLAS chose.
Every child also gets CUDA_VISIBLE_DEVICES=-1: this bench measures the CPU, and on a machine
with a GPU TensorFlow would otherwise run the products there (the README's GPU table comes from
real runs of the scripts). Nothing else changes the environment, the tests' and the scripts'
included.
"""
import argparse
import glob
import importlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ("autoencoder", "adversarial_autoencoder", "supervised_aae", "semi_supervised_aae")
BATCH_SIZE = 100
# The targets: achieved/roofline (products and Adam's updates) in float32, bfloat16's speed over
# float32 (on a CPU with bfloat16 arithmetic), and the share of an epoch spent outside the
# training iterations.
TARGET_ROOFLINE = 0.85
TARGET_BFLOAT16 = 1.3
TARGET_OUTSIDE = 0.03
FEED_CALLS = 20  # next_feed() is timed alone as the median of this many calls
PEAK_SIZE = 4096  # the large square product whose speed is printed for context (1024 in --quick)
COPIES = 8  # TensorFlow times a product as COPIES independent copies per session call
# An Adam update of a float32 weight reads the weight, its gradient and its two slots, and writes
# the weight and the slots back: 7 numbers of 4 bytes.
BYTES_PER_UPDATE = 28

# "The same maths": the first iterations of both float32 configurations, compared with
# np.allclose. oneDNN adds up the terms of a product in another order than Eigen does, which
# changes float32 results in their last bits (Eigen's own results change as much between 1 and 2
# threads); the losses then agree to about 1e-7. Adam divides each gradient by its own running
# size, so where a gradient is nearly zero those last bits can change the sign of its step, whose
# size is then the learning rate whatever the gradient's. Without batch normalisation the weights
# differed by up to ~1e-6 in 3 iterations. Part 4's encoder normalises its hidden layers, and the
# gradients of the layers before it are differences of nearly equal terms (the biases there get
# none at all in exact arithmetic: the normalisation subtracts them again); measured there, the
# weights differed by up to 9e-4 in 3 iterations, within one Adam step (0.001, the default rate).
COMPARED_ITERATIONS = 3
LOSS_TOLERANCE = {"rtol": 1e-5, "atol": 1e-7}
WEIGHT_TOLERANCE = {"rtol": 1e-5, "atol": 1e-3}


class Settings:
    """How long to measure: the full run, or a smoke run that only checks that everything works."""

    def __init__(self, warmup, windows, window_seconds, traced, product_windows, product_seconds,
                 peak_size, epochs, hidden_units):
        self.warmup = warmup  # iterations after the compared ones, before timing
        self.windows = windows  # timed windows; the median is reported
        self.window_seconds = window_seconds  # each window runs this long, and 1 iteration at least
        self.traced = traced  # traced iterations, for the FLOPs and "where the time goes"
        self.product_windows = product_windows  # the same, for each product of the roofline
        self.product_seconds = product_seconds
        self.peak_size = peak_size
        self.epochs = epochs  # whether to run each script for two epochs (a minute or more each)
        self.hidden_units = hidden_units  # the networks' width: the lessons' 1000, or less to check


FULL = Settings(warmup=10, windows=7, window_seconds=3.0, traced=5, product_windows=5,
                product_seconds=0.3, peak_size=PEAK_SIZE, epochs=True, hidden_units=1000)
QUICK = Settings(warmup=0, windows=3, window_seconds=0.0, traced=1, product_windows=1,
                 product_seconds=0.0, peak_size=1024, epochs=False, hidden_units=128)

CONFIGS = {
    "fast": "the scripts' own settings (the common package turns oneDNN on)",
    "plain": "TensorFlow's defaults (TF_ENABLE_ONEDNN_OPTS=0, default threads)",
    "bfloat16": "the scripts' own settings with --precision bfloat16",
}


def config_env(config):
    """The environment of a child process measuring `config`.

    Every child sees the CPU alone: on a machine with a GPU, TensorFlow would run the products
    there, and the roofline, oneDNN's kernels and bfloat16 are all about the CPU.
    """
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1")
    if config == "plain":
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
        env.pop("TF_NUM_INTRAOP_THREADS", None)
        env.pop("TF_NUM_INTEROP_THREADS", None)
    if config == "numpy":  # OpenBLAS picks its best kernel for this CPU by itself
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    return env


def median_rate(call, windows, window_seconds):
    """Calls of call() per second: the median over `windows` timed windows."""
    rates = []
    for _ in range(windows):
        count, started = 0, time.perf_counter()
        while count == 0 or time.perf_counter() - started < window_seconds:
            call()
            count += 1
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def distinct(shapes):
    """The distinct product shapes among [m, k, n, transpose_a, transpose_b] lists, as tuples."""
    return sorted({tuple(shape) for shape in shapes})


def key(shape):
    return ",".join(map(str, shape))


def operands(rng, shape, dtype=np.float32):
    """Random operands of a product, stored as TensorFlow stores them for this layout."""
    m, k, n, transpose_a, transpose_b = shape
    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
    return a, b


# --------------------------------------------------------------------------------------------
# The TensorFlow children: the four scripts under one configuration. These functions import
# TensorFlow (and the common package, which configures it) where they use it, so that the
# parent, which imports this file too, never does.
# --------------------------------------------------------------------------------------------

class RecordingSession:
    """Passed to train_step() instead of the Session: runs each call with a full trace and keeps
    what it fetched and fed (to count the FLOPs) and the trace (to see where the time went)."""

    def __init__(self, sess):
        self.sess = sess
        self.calls, self.traces = [], []

    def run(self, fetches, feed_dict=None):
        import tensorflow.compat.v1 as tf
        metadata = tf.RunMetadata()
        result = self.sess.run(fetches, feed_dict=feed_dict, run_metadata=metadata,
                               options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE))
        self.calls.append((fetches, feed_dict or {}))
        self.traces.append(metadata.step_stats)
        return result


def executed_ops(fetches, feed):
    """The ops that sess.run(fetches, feed) executes, after TensorFlow has pruned its graph.

    An op runs when it is fetched, when a running op reads its output, or when a running op waits
    for it through a control edge and it changes something (a variable update) or is a NoOp that
    groups such ops. A computation whose result nothing reads is dropped by TensorFlow's graph
    optimiser even if a control edge waits for it. That matters here: tf.gradients ties the two
    gradients of every MatMul together by control edges, yet the gradient with respect to a
    placeholder (the images, the prior samples), or to weights the phase does not train, is never
    computed. A fed tensor is given, so what would compute it does not run either.
    """
    import tensorflow.compat.v1 as tf
    fed = {tensor.name for tensor in feed}
    todo = [f.op if isinstance(f, tf.Tensor) else f for f in tf.nest.flatten(fetches)]
    running = set()
    while todo:
        op = todo.pop()
        if op in running:
            continue
        running.add(op)
        todo += [t.op for t in op.inputs if t.name not in fed]
        todo += [c for c in op.control_inputs if c.type == "NoOp" or c.op_def.is_stateful]
    return running


def matmul_shapes(sess, calls):
    """[m, k, n, transpose_a, transpose_b] of every MatMul the recorded calls executed.

    The sizes are read from the operands as each call fed them, not filled in from --batch_size:
    part 4's supervised phase reads a labelled batch of another size.
    """
    import tensorflow.compat.v1 as tf
    shapes = []
    for fetches, feed in calls:
        matmuls = sorted((op for op in executed_ops(fetches, feed) if op.type == "MatMul"),
                         key=lambda op: op.name)
        # Shapes only: nothing that trains is fetched, so no variable changes.
        sizes = sess.run([[tf.shape(t) for t in op.inputs] for op in matmuls], feed_dict=feed)
        for op, (a, b) in zip(matmuls, sizes):
            transpose_a, transpose_b = op.get_attr("transpose_a"), op.get_attr("transpose_b")
            m, k = reversed(a) if transpose_a else a
            n = b[0] if transpose_b else b[1]
            shapes.append([int(m), int(k), int(n), transpose_a, transpose_b])
    return shapes


def adam_updates(calls):
    """The shape of every weight that an Adam update of the recorded calls changes, one entry an
    update: part 2's encoder is updated twice an iteration, by reconstruction and by the generator."""
    return [op.inputs[-1].shape.as_list()  # the update's last input is the weight's gradient
            for fetches, feed in calls for op in sorted(executed_ops(fetches, feed), key=lambda op: op.name)
            if "ApplyAdam" in op.type]


def adam_alone(shapes, settings):
    """Milliseconds that Adam's updates of weights of these shapes take alone, one session call.

    Each update gets a weight and a gradient of its own, held in variables, so nothing but the
    updates runs: the time is that of the memory they move, as fast as this machine moves it.
    """
    import tensorflow.compat.v1 as tf
    graph = tf.Graph()
    with graph.as_default():
        pairs = [(tf.Variable(tf.ones(shape) / 3), tf.Variable(tf.ones(shape) / 7, trainable=False))
                 for shape in shapes]
        update = tf.train.AdamOptimizer(1e-3).apply_gradients(
            [(gradient, weight) for weight, gradient in pairs])
        with tf.Session(graph=graph) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(3):
                sess.run(update)
            rate = median_rate(lambda: sess.run(update), settings.product_windows,
                               settings.product_seconds)
    return 1000 / rate


def traced_span(traces):
    """Milliseconds from the first kernel's start to the last one's end, summed over the traced
    session calls: the time the calls spent in the graph, gaps between kernels included."""
    span = 0.0
    for step_stats in traces:
        nodes = [node for device in step_stats.dev_stats for node in device.node_stats]
        start = min(node.all_start_micros for node in nodes)
        span += max(node.all_start_micros + node.all_end_rel_micros for node in nodes) - start
    return span / 1000


def traced_kernels(traces):
    """(op type, milliseconds) of every kernel that ran in the traces.

    The op type is the one each trace line names, which is not always the graph's: oneDNN renames
    and fuses ops (a MatMul, its bias and its ReLU run as one _MklNativeFusedMatMul).
    """
    for step_stats in traces:
        for device in step_stats.dev_stats:
            for node in device.node_stats:
                op_type = node.timeline_label.partition(" = ")[2].partition("(")[0]
                yield op_type, node.all_end_rel_micros / 1000


def kernel_kind(op_type):
    """matmul, adam, cast (what --precision bfloat16's rewrite adds: copies to and from bfloat16)
    or other."""
    for kind, name in (("matmul", "MatMul"), ("adam", "ApplyAdam"), ("cast", "Cast")):
        if name in op_type:
            return kind
    return "other"


def setup(name, data_dir, precision, hidden_units):
    """(module, flags, graph, next_feed, iterations per epoch) of one script, as its train() has them.

    next_feed takes no arguments: it calls the script's own next_feed() with the data and the
    random sources that its train() passes (part 4: the step, counted from 0).
    """
    from common import flags, mnist
    module = importlib.import_module(name)
    argv = ["--batch_size", str(BATCH_SIZE), "--data_dir", data_dir, "--precision", precision,
            "--hidden_units", str(hidden_units)]
    args = flags.parse(module.arg_parser(), argv)
    data = mnist.load(args.data_dir, args.seed)
    if name == "semi_supervised_aae":
        module.check_flags(args)  # settles the defaults that depend on other flags
    g = module.build_graph(args)
    if name == "semi_supervised_aae":
        labelled, unlabelled = mnist.split_labelled(data.train, args.n_labels, args.seed)
        steps = itertools.count()
        return (module, args, g, lambda: module.next_feed(g, unlabelled, labelled, args, next(steps)),
                unlabelled.num_examples // args.batch_size)
    if name == "autoencoder":
        next_feed = lambda: module.next_feed(g, data, args)
    else:
        prior = np.random.RandomState(args.seed)
        next_feed = lambda: module.next_feed(g, data, args, prior)
    return module, args, g, next_feed, data.train.num_examples // args.batch_size


def measure(name, settings, data_dir, weights_path, config):
    """Time one script's iterations and trace a few; save its weights after the compared ones.

    In bfloat16 the traces only say where the time goes: the rewrite replaces and fuses the
    products, so their count and shapes are taken from the float32 graph.
    """
    import tensorflow.compat.v1 as tf
    from common import precision
    wanted = "bfloat16" if config == "bfloat16" else "float32"
    module, args, g, next_feed, steps_per_epoch = setup(name, data_dir, wanted, settings.hidden_units)
    config = precision.session_config(args.precision)
    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        losses = [module.train_step(sess, g, next_feed()) for _ in range(COMPARED_ITERATIONS)]
        variables = tf.trainable_variables()
        np.savez(weights_path, **dict(zip([v.op.name for v in variables], sess.run(variables))))
        # Those first iterations were slow: each phase's first call prunes and optimises its
        # graph, and oneDNN prepares its kernels. A few more settle the caches.
        for _ in range(settings.warmup):
            module.train_step(sess, g, next_feed())

        rate = median_rate(lambda: module.train_step(sess, g, next_feed()), settings.windows,
                           settings.window_seconds)
        results = {"iterations_per_second": rate, "steps_per_epoch": steps_per_epoch,
                   "losses": [{k: float(v) for k, v in step.items()} for step in losses]}
        feed_times = []
        for _ in range(FEED_CALLS):
            started = time.perf_counter()
            next_feed()
            feed_times.append(time.perf_counter() - started)

    # The traced iterations run one kernel at a time (one inter-op thread, each kernel with all
    # the intra-op threads), so that the kernels' times add up to the iteration's: run two at
    # a time, as in the timed session, each takes longer and their sum exceeds the iteration.
    # The session needs threads of its own: the process's pool was made by the first session.
    config.inter_op_parallelism_threads, config.use_per_session_threads = 1, True
    with tf.Session(config=config) as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(COMPARED_ITERATIONS + settings.warmup):
            module.train_step(sess, g, next_feed())
        recording = RecordingSession(sess)
        for _ in range(settings.traced):
            module.train_step(recording, g, next_feed())
        calls_per_iteration = len(recording.calls) // settings.traced
        matmuls = matmul_shapes(sess, recording.calls[:calls_per_iteration])
        updates = adam_updates(recording.calls[:calls_per_iteration])

    kernels = list(traced_kernels(recording.traces))
    milliseconds = {"matmul": 0.0, "adam": 0.0, "cast": 0.0, "other": 0.0}
    for op_type, ms in kernels:
        milliseconds[kernel_kind(op_type)] += ms / settings.traced
    results.update(feed_ms=1000 * statistics.median(feed_times), kernel_ms=milliseconds,
                   traced_ms=traced_span(recording.traces) / settings.traced)
    if config == "bfloat16":
        return results
    traced_matmuls = sum(kernel_kind(op_type) == "matmul" for op_type, _ in kernels) / settings.traced
    if traced_matmuls != len(matmuls):
        raise RuntimeError(f"{name}: the graph says an iteration multiplies {len(matmuls)} times, "
                           f"the trace shows {traced_matmuls:g} matrix-product kernels")
    traced_updates = sum(kernel_kind(op_type) == "adam" for op_type, _ in kernels) / settings.traced
    if traced_updates != len(updates):
        raise RuntimeError(f"{name}: the graph says an iteration makes {len(updates)} Adam updates, "
                           f"the trace shows {traced_updates:g}")
    return {**results, "onednn": any(op_type.startswith("_Mkl") for op_type, _ in kernels),
            "matmuls": matmuls, "adam_updates": updates}


def tensorflow_products(shapes, dtype, settings):
    """{shape key: seconds} of TensorFlow's own MatMul on each product shape, and the peak.

    Each session call runs COPIES independent copies of the product (one for the peak), on
    operands held in variables, and fetches one number of each (so no copy is pruned, and no
    result is copied out); the session's overhead is shared by the copies.
    """
    import tensorflow.compat.v1 as tf
    rng = np.random.default_rng(0)
    seconds = {}
    peak = (settings.peak_size,) * 3 + (False, False)
    for shape in shapes + [peak]:
        copies = 1 if shape == peak else COPIES
        graph = tf.Graph()
        with graph.as_default():
            corners = []
            for _ in range(copies):
                a, b = (tf.Variable(tf.constant(x, dtype=dtype)) for x in operands(rng, shape))
                product = tf.matmul(a, b, transpose_a=shape[3], transpose_b=shape[4])
                corners.append(product[0, 0])
            with tf.Session(graph=graph) as sess:
                sess.run(tf.global_variables_initializer())
                sess.run(corners)
                rate = median_rate(lambda: sess.run(corners), settings.product_windows,
                                   settings.product_seconds)
        seconds["peak" if shape == peak else key(shape)] = 1 / (rate * copies)
    return seconds


def child(config, settings, data_dir, out_dir):
    """Measure every script under this process's configuration; write out_dir/<config>.json.

    The fast child also times TensorFlow's own products (float32, and bfloat16 where the CPU has
    it) on every shape that the scripts' iterations multiply, and each script's Adam updates alone.
    """
    sys.path.insert(0, ROOT)
    import common  # first: it configures TensorFlow before TensorFlow is imported
    import tensorflow as tf
    from common import precision
    results = {"tensorflow": tf.__version__, "scripts": {}}
    for name in SCRIPTS:
        started = time.time()
        measured = measure(name, settings, data_dir, os.path.join(out_dir, f"{config}_{name}.npz"),
                           config)
        results["scripts"][name] = measured
        print(f"{config}: {name} {measured['iterations_per_second']:.1f} it/s "
              f"({time.time() - started:.0f} s)", flush=True)
    if config == "fast":
        shapes = distinct(m for row in results["scripts"].values() for m in row["matmuls"])
        results["products"] = {"float32": tensorflow_products(shapes, tf.float32, settings)}
        if precision.effective("bfloat16") == "bfloat16":
            results["products"]["bfloat16"] = tensorflow_products(shapes, tf.bfloat16, settings)
        print(f"fast: TensorFlow's products timed on {len(shapes)} shapes", flush=True)
        for measured in results["scripts"].values():
            measured["adam_alone_ms"] = adam_alone(measured["adam_updates"], settings)
    with open(os.path.join(out_dir, f"{config}.json"), "w") as f:
        json.dump(results, f)


def numpy_child(settings, shapes_path, out_dir):
    """Time numpy's float32 product on each shape in shapes_path, and the peak; write numpy.json."""
    import threadpoolctl
    with open(shapes_path) as f:
        shapes = [tuple(shape) for shape in json.load(f)]
    rng = np.random.default_rng(0)
    seconds = {}
    peak = (settings.peak_size,) * 3 + (False, False)
    for shape in shapes + [peak]:
        # A transposed operand is stored the other way round and used through a transposed view,
        # which BLAS reads as it is, as TensorFlow's kernels do.
        a, b = operands(rng, shape)
        a, b = (a.T if shape[3] else a), (b.T if shape[4] else b)
        out = np.empty((shape[0], shape[2]), np.float32)
        for _ in range(3):  # warm-up: BLAS starts its threads, the memory gets touched
            np.matmul(a, b, out=out)
        rate = median_rate(lambda: np.matmul(a, b, out=out), settings.product_windows,
                           settings.product_seconds)
        seconds["peak" if shape == peak else key(shape)] = 1 / rate
    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    kernel = ", ".join(f"{i['internal_api']} {i.get('version')} {i.get('architecture')} kernels, "
                       f"{i['num_threads']} threads" for i in blas) or "unknown BLAS"
    print(f"numpy: {kernel}", flush=True)
    with open(os.path.join(out_dir, "numpy.json"), "w") as f:
        json.dump({"seconds": seconds, "kernel": kernel}, f)


# --------------------------------------------------------------------------------------------
# The parent process: the configurations, the roofline, the comparison, the report
# --------------------------------------------------------------------------------------------

def run_child(config, quick, data_dir, out_dir, *extra):
    """Measure `config` in a child process, echoing its progress to stderr; return its results."""
    print(f"Measuring {CONFIGS.get(config, config)}", file=sys.stderr)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", config, "--out", out_dir,
           "--data_dir", data_dir, *extra] + (["--quick"] if quick else [])
    log_path = os.path.join(out_dir, f"{config}.log")
    with open(log_path, "w") as log:  # TensorFlow's start-up chatter, shown only if it fails
        process = subprocess.Popen(cmd, env=config_env(config), stdout=subprocess.PIPE,
                                   stderr=log, text=True)
        for line in process.stdout:
            print("  " + line.rstrip(), file=sys.stderr)
    if process.wait() != 0:
        with open(log_path) as log:
            raise RuntimeError(f"the {config} measurement failed (exit {process.returncode}):\n"
                               + log.read()[-3000:])
    with open(os.path.join(out_dir, f"{config}.json")) as f:
        return json.load(f)


def two_epochs(name, data_dir, out_dir):
    """(seconds, seconds outside training) of the second epoch of a real two-epoch run.

    The first epoch also pays for one-off work (each new fetch's graph is optimised on its first
    call, the digit judge is loaded), so the second shows what every later epoch costs.
    """
    results = os.path.join(out_dir, f"epochs_{name}")
    cmd = [sys.executable, os.path.join(ROOT, f"{name}.py"), "--train", "True", "--epochs", "2",
           "--data_dir", data_dir, "--results_dir", results]
    print(f"Running {name} for two epochs", file=sys.stderr)
    process = subprocess.run(cmd, cwd=ROOT, env=config_env("fast"), capture_output=True, text=True)
    if process.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{process.stderr[-3000:]}")
    [metrics] = glob.glob(os.path.join(results, "*", "*", "metrics.json"))
    with open(metrics) as f:
        return json.load(f)["epoch_seconds"][1]


def same_maths(name, fast, plain, out_dir):
    """Whether both float32 configurations agree on the compared iterations' losses and weights."""
    losses = [np.allclose([f[k] for k in sorted(f)], [p[k] for k in sorted(p)], **LOSS_TOLERANCE)
              for f, p in zip(fast["losses"], plain["losses"])]
    weights = [np.load(os.path.join(out_dir, f"{config}_{name}.npz")) for config in ("fast", "plain")]
    return all(losses) and weights[0].files == weights[1].files and all(
        np.allclose(weights[0][v], weights[1][v], **WEIGHT_TOLERANCE) for v in weights[0].files)


def benchmark(quick, data_dir, out_dir):
    """Measure the configurations, the products and the epochs: the figures of each script.

    The children leave their results in out_dir: <config>.json, and <config>_<script>.npz, the
    weights after the compared iterations.
    """
    settings = QUICK if quick else FULL
    measured = {config: run_child(config, quick, data_dir, out_dir) for config in ("fast", "plain")}
    shapes = distinct(m for row in measured["fast"]["scripts"].values() for m in row["matmuls"])
    shapes_path = os.path.join(out_dir, "shapes.json")
    with open(shapes_path, "w") as f:
        json.dump(shapes, f)
    numpy = run_child("numpy", quick, data_dir, out_dir, "--shapes", shapes_path)
    products = {"numpy": numpy["seconds"], **measured["fast"]["products"]}
    if "bfloat16" in products:
        measured["bfloat16"] = run_child("bfloat16", quick, data_dir, out_dir)
    rows = {}
    for name in SCRIPTS:
        fast, plain = measured["fast"]["scripts"][name], measured["plain"]["scripts"][name]
        matmuls = [key(m) for m in fast["matmuls"]]
        # each product at the speed of the faster of numpy and TensorFlow
        best = sum(min(products["numpy"][p], products["float32"][p]) for p in matmuls)
        adam = fast["adam_alone_ms"] / 1000  # float32 weights and slots, in bfloat16 too
        rows[name] = {"fast": fast, "plain": plain,
                      "flops": sum(2 * m * k * n for m, k, n, _, _ in fast["matmuls"]),
                      "products_seconds": best, "roofline_seconds": best + adam,
                      "numpy_seconds": sum(products["numpy"][p] for p in matmuls),
                      "same_maths": same_maths(name, fast, plain, out_dir),
                      "epoch": two_epochs(name, data_dir, out_dir) if settings.epochs else None}
        if "bfloat16" in measured:
            rows[name]["bfloat16"] = measured["bfloat16"]["scripts"][name]
            best = sum(products["bfloat16"][p] for p in matmuls)
            rows[name]["bfloat16_products_seconds"] = best
            rows[name]["bfloat16_roofline_seconds"] = best + adam
    return {"tensorflow": measured["fast"]["tensorflow"], "rows": rows, "numpy_kernel": numpy["kernel"],
            "peak_size": settings.peak_size,
            "peak_gflops": {kind: 2 * settings.peak_size ** 3 / seconds["peak"] / 1e9
                            for kind, seconds in products.items()}}


def cpu_model():
    """The processor as lscpu names it, with its family and model numbers (machines of one name
    differ by generation) and whether it multiplies bfloat16 natively."""
    try:
        with open("/proc/cpuinfo") as f:
            fields = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines()
                          if ":" in line)
    except OSError:
        return platform.processor() or "unknown processor"
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = fields.get("flags", "").split()
    extras = [name.upper() for name in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if name in flags]
    return (f"{fields.get('model name', 'unknown processor')} (family {fields.get('cpu family', '?')}, "
            f"model {fields.get('model', '?')}; {', '.join(extras) or 'no AVX2'})")


def time_table(rows, config, products):
    """Print where one iteration of `config` goes, a row per script, in milliseconds: the
    iteration as timed; the same traced one kernel at a time; its kernels by kind (beside the
    products at their best, and Adam's updates timed alone where measured); the gaps between its
    kernels; and next_feed()."""
    alone = "adam_alone_ms" in next(iter(rows.values()))[config]
    print(f"{'script':<24} {'total':>6} {'traced':>6} {'matmul':>6} {'(best)':>7} {'adam':>6} "
          + (f"{'(alone)':>7} " if alone else "")
          + f"{'cast':>6} {'other':>6} {'gaps':>6} {'feed':>6}")
    for name, row in rows.items():
        measured = row[config]
        kernels, traced = measured["kernel_ms"], measured["traced_ms"]
        print(f"{name:<24} {1000 / measured['iterations_per_second']:>6.1f} {traced:>6.1f} "
              f"{kernels['matmul']:>6.1f} {1000 * row[products]:>7.1f} {kernels['adam']:>6.1f} "
              + (f"{measured['adam_alone_ms']:>7.1f} " if alone else "")
              + f"{kernels['cast']:>6.1f} {kernels['other']:>6.1f} "
              f"{traced - sum(kernels.values()):>6.1f} {measured['feed_ms']:>6.1f}")


def report(results):
    """Print the tables; the last line is the summary. Returns whether the maths agreed."""
    rows = results["rows"]

    def onednn(config):
        return f"{sum(row[config]['onednn'] for row in rows.values())} of {len(rows)} scripts"

    peaks = ", ".join(f"{kind} {gflops:.0f}" for kind, gflops in results["peak_gflops"].items())
    print(f"{cpu_model()}, {os.cpu_count()} cores. TensorFlow {results['tensorflow']}, numpy "
          f"{np.__version__} ({results['numpy_kernel']}); batch {BATCH_SIZE}.\n"
          f"Peak of a {results['peak_size']}-cube product, GFLOP/s: {peaks}.\n"
          f"CPU only: GPUs are hidden from every measurement (CUDA_VISIBLE_DEVICES=-1).\n"
          f"fast = {CONFIGS['fast']}; plain = {CONFIGS['plain']}.\n"
          f"oneDNN's kernels ran in fast: {onednn('fast')}, in plain: {onednn('plain')}.\n"
          f"roofline = each product at the speed of the faster of numpy and TensorFlow on it, "
          f"then the iteration's Adam updates timed alone; products = the products alone.\n"
          f"same maths: the losses of the first {COMPARED_ITERATIONS} iterations and the weights "
          f"after them agree (np.allclose {LOSS_TOLERANCE}, {WEIGHT_TOLERANCE}).\n")
    print(f"{'script':<24} {'it/s':>6} {'GFLOP/it':>8} {'GFLOP/s':>7} {'roofline it/s':>13} "
          f"{'achieved/roofline':>17} {'products it/s':>13} {'achieved/products':>17} "
          f"{'plain it/s':>10} {'speed-up':>8} {'it/epoch':>8} {'s/epoch':>7} {'same maths':>10}")
    for name, row in rows.items():
        rate, plain_rate = row["fast"]["iterations_per_second"], row["plain"]["iterations_per_second"]
        print(f"{name:<24} {rate:>6.1f} {row['flops'] / 1e9:>8.3f} {rate * row['flops'] / 1e9:>7.1f} "
              f"{1 / row['roofline_seconds']:>13.1f} {rate * row['roofline_seconds']:>17.2f} "
              f"{1 / row['products_seconds']:>13.1f} {rate * row['products_seconds']:>17.2f} "
              f"{plain_rate:>10.1f} {rate / plain_rate:>8.2f} {row['fast']['steps_per_epoch']:>8} "
              f"{row['fast']['steps_per_epoch'] / rate:>7.1f} {'yes' if row['same_maths'] else 'NO':>10}")

    bfloat16 = all("bfloat16" in row for row in rows.values())
    if bfloat16:
        print(f"\n--precision bfloat16 ({CONFIGS['bfloat16']}), against each product timed in "
              f"bfloat16 by TensorFlow, then Adam's float32 updates:")
        print(f"{'script':<24} {'it/s':>6} {'x float32':>9} {'roofline it/s':>13} "
              f"{'achieved/roofline':>17} {'achieved/products':>17} {'s/epoch':>7}")
        for name, row in rows.items():
            rate = row["bfloat16"]["iterations_per_second"]
            print(f"{name:<24} {rate:>6.1f} {rate / row['fast']['iterations_per_second']:>9.2f} "
                  f"{1 / row['bfloat16_roofline_seconds']:>13.1f} "
                  f"{rate * row['bfloat16_roofline_seconds']:>17.2f} "
                  f"{rate * row['bfloat16_products_seconds']:>17.2f} "
                  f"{row['fast']['steps_per_epoch'] / rate:>7.1f}")
    else:
        print("\n--precision bfloat16: not measured, this CPU has no bfloat16 arithmetic.")

    print("\nWhere one iteration's time goes, fast configuration, ms (total: as timed; then traced "
          "one kernel at a time: the iteration, its kernels, the gaps between them):")
    time_table(rows, "fast", "products_seconds")
    if bfloat16:
        print("\nThe same with --precision bfloat16, ms (its casts are the rewrite's copies to and "
              "from bfloat16):")
        time_table(rows, "bfloat16", "bfloat16_products_seconds")

    print("\nThe roofline's Adam updates: one iteration's, timed alone (memory-bound: "
          f"{BYTES_PER_UPDATE} bytes moved a float32 weight):")
    print(f"{'script':<24} {'weights updated':>15} {'(alone) ms':>10} {'GB/s':>5}")
    for name, row in rows.items():
        fast = row["fast"]
        updated = sum(int(np.prod(shape)) for shape in fast["adam_updates"])
        print(f"{name:<24} {updated:>15,} {fast['adam_alone_ms']:>10.1f} "
              f"{BYTES_PER_UPDATE * updated / fast['adam_alone_ms'] / 1e6:>5.0f}")

    epochs = all(row["epoch"] for row in rows.values())
    if epochs:
        print("\nThe second epoch of a real run (python <script>.py --train True --epochs 2), seconds:")
        print(f"{'script':<24} {'epoch':>7} {'outside training':>16} {'share':>6}")
        for name, row in rows.items():
            seconds, outside = row["epoch"]
            print(f"{name:<24} {seconds:>7.1f} {outside:>16.2f} {100 * outside / seconds:>5.1f}%")
    else:
        print("\nEpochs of real runs: not measured in --quick.")

    worst_roofline = min(r["fast"]["iterations_per_second"] * r["roofline_seconds"] for r in rows.values())
    worst_speedup = min(r["fast"]["iterations_per_second"] / r["plain"]["iterations_per_second"]
                        for r in rows.values())
    targets = [f"achieved/roofline >= {TARGET_ROOFLINE:.2f} "
               f"({'met' if worst_roofline >= TARGET_ROOFLINE else 'missed'}, worst "
               f"{worst_roofline:.2f})"]
    if epochs:
        worst_outside = max(r["epoch"][1] / r["epoch"][0] for r in rows.values())
        targets.append(f"outside training < {100 * TARGET_OUTSIDE:g}% of an epoch "
                       f"({'met' if worst_outside < TARGET_OUTSIDE else 'missed'}, worst "
                       f"{100 * worst_outside:.1f}%)")
    if bfloat16:
        worst_bfloat16 = min(r["bfloat16"]["iterations_per_second"] / r["fast"]["iterations_per_second"]
                             for r in rows.values())
        targets.append(f"bfloat16 >= {TARGET_BFLOAT16:.1f}x float32 "
                       f"({'met' if worst_bfloat16 >= TARGET_BFLOAT16 else 'missed'}, worst "
                       f"{worst_bfloat16:.2f}x)")
    print(f"\nTargets: {'; '.join(targets)}.")
    print(f"worst achieved/roofline = {worst_roofline:.2f}, worst speed-up = {worst_speedup:.2f}")
    return all(row["same_maths"] for row in rows.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="check that it works: a few iterations of each script with 128 units "
                             "a hidden layer, no epochs; its figures are not the lessons'")
    parser.add_argument("--data_dir", default=os.path.join(ROOT, "Data"),
                        help="folder holding the four MNIST .gz files")
    # The child process's flags: the configuration it measures, the folder it writes to.
    parser.add_argument("--child", choices=[*CONFIGS, "numpy"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--shapes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    if args.child == "numpy":
        numpy_child(settings, args.shapes, args.out)
        return
    if args.child:
        child(args.child, settings, args.data_dir, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as out_dir:
        results = benchmark(args.quick, args.data_dir, out_dir)
    if not report(results):
        sys.exit(1)  # a configuration that changes the results is no speed-up


if __name__ == "__main__":
    main()
