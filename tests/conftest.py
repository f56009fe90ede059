"""Shared helpers: run a lesson script as a user would, and read back what it wrote."""
import glob
import json
import os
import subprocess
import sys

import pytest

# Under pytest-xdist (`-n 2`, the README's test command) two workers share the cores: one
# TensorFlow thread each, here and in every script a test starts, keeps them from fighting over
# them. Set before anything imports TensorFlow.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(ROOT, "Data")
sys.path.insert(0, ROOT)


def script_env():
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1",
               MNIST_MIRRORS="http://127.0.0.1:9/")  # never the internet: port 9 refuses at once
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def run_script(script, *args, results_dir, data_dir=DATA_DIR, check=True):
    """Run `python <script> <args>` in the repository root; return the CompletedProcess."""
    cmd = [sys.executable, os.path.join(ROOT, script), *map(str, args),
           "--results_dir", str(results_dir), "--data_dir", str(data_dir)]
    proc = subprocess.run(cmd, cwd=ROOT, env=script_env(), capture_output=True, text=True,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def read_metrics(run):
    """The run's metrics.json, as a dict."""
    with open(os.path.join(run, "metrics.json")) as f:
        return json.load(f)


def read_log(run):
    """The text of the run's log/log.txt."""
    with open(os.path.join(run, "log", "log.txt")) as f:
        return f.read()


def train_run(tmp_path_factory, script, model, *args):
    """Train `script` with `args` into a fresh results folder: (results folder, run folder, process)."""
    results = tmp_path_factory.mktemp("results")
    proc = run_script(script, "--train", "True", *args, results_dir=results)
    [run] = run_folders(results, model)
    return results, run, proc


RUN_FILES = ("Tensorboard", "Saved_models", "log/log.txt", "metrics.json", "run.json")  # every run has these


def run_folders(results_dir, model):
    return sorted(p for p in glob.glob(os.path.join(str(results_dir), model, "*")) if os.path.isdir(p))


def event_tags(run_dir):
    """({tag: kind}, accumulator) for a run's TensorBoard event files, read back from disk."""
    from tensorboard.backend.event_processing import event_accumulator
    acc = event_accumulator.EventAccumulator(os.path.join(run_dir, "Tensorboard"),
                                             size_guidance={"images": 0, "histograms": 0})
    acc.Reload()
    # "distributions" are derived from histograms and would hide them: list the source kinds only
    return {tag: kind for kind, tags in acc.Tags().items()
            if isinstance(tags, list) and kind != "distributions" for tag in tags}, acc


def png_size(path):
    """(width, height) of a PNG, opened with matplotlib's reader."""
    import matplotlib.image
    image = matplotlib.image.imread(path)
    return image.shape[1], image.shape[0]


def train_part4_briefly(ssa, args, g, data, iterations=150):
    """Validation accuracy of a part-4 graph before and after a few iterations on 1,000 labels,
    and the last iteration's losses."""
    import numpy as np
    import tensorflow.compat.v1 as tf
    from common import mnist
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, args.seed)
    rng = np.random.RandomState(args.seed)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        untrained = ssa.accuracy(sess, g, data.validation)
        for _ in range(iterations):
            losses = ssa.train_step(sess, g, ssa.next_feed(g, unlabelled, labelled, rng, args))
        return untrained, ssa.accuracy(sess, g, data.validation), losses


@pytest.fixture(scope="session")
def mnist_dir():
    """Data/ with the four MNIST files: where they are missing (a fresh clone), the project's own
    md5-checked downloader fetches them once; offline, the tests stop with its message."""
    from common import UserError, mnist
    try:
        mnist.ensure_files(DATA_DIR)
    except UserError as e:
        pytest.fail(str(e), pytrace=False)
    return DATA_DIR


@pytest.fixture(scope="module")
def data(mnist_dir):
    """MNIST split with seed 0, loaded afresh for each test module (its batches keep state)."""
    from common import mnist
    return mnist.load(mnist_dir, seed=0)
