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

# Networks of 128 units a hidden layer instead of the lessons' 1000, for the tests that check what
# a run does rather than how well it learns: their checkpoints weigh 3-7 MB instead of 40-100
# (Adam keeps two slots a weight), and they train several times faster. Part 3's short run keeps
# the full width (only that learns to follow the label within an epoch), part 1's takes 512 units
# (narrower, its codes spread too little for the grid to show several digits).
SMALL = ("--hidden_units", "128")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(ROOT, "Data")
sys.path.insert(0, ROOT)


# The test files that need the digit judge (they train parts 2-4, or test the judge itself; the
# bench's ends with a run of part 3), in the order they run: the bench's first, as most of it needs
# no judge, then the longest first. On a fresh clone the judge trains while the files that do not
# need it run before these (pytest_sessionstart below).
NEED_THE_JUDGE = ("test_bench.py", "test_resume.py", "test_priors.py", "test_semi_supervised_aae.py",
                  "test_semi_supervised_experiments.py", "test_tensorboard.py",
                  "test_adversarial_autoencoder.py", "test_supervised_aae.py", "test_judge.py")
judge_training = None  # the process training it, while it does


def pytest_sessionstart(session):
    """On a data folder with MNIST but no digit judge (a fresh clone, as in CI), start training the
    judge at once in a process of its own, on one thread, while the tests that do not need it run;
    the first test that does waits for it on common/judge.py's lock. Trained by that test on both
    cores instead, it holds both workers for a minute; on one thread beside them, it costs less."""
    global judge_training
    if hasattr(session.config, "workerinput") or os.path.exists(os.path.join(DATA_DIR, "judge")):
        return  # an xdist worker (the controller starts it), or a judge already there
    if len(glob.glob(os.path.join(DATA_DIR, "*-ubyte.gz"))) < 4:
        return  # no MNIST yet: the first test that needs the judge downloads it and trains it
    env = dict(script_env(), TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    judge_training = subprocess.Popen(
        [sys.executable, "-c", f"from common import judge; judge.load({DATA_DIR!r}, threads=1)"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pytest_sessionfinish(session):
    if judge_training is not None and judge_training.poll() is None:
        # the session ended first (-x, Ctrl-C); the judge's folder is written whole or not at all
        judge_training.terminate()
        judge_training.wait()


def pytest_collection_modifyitems(items):
    """The files that need the judge last, the longest of them first (pytest.ini keeps xdist to
    this order)."""
    def rank(item):
        name = os.path.basename(str(item.fspath))
        return NEED_THE_JUDGE.index(name) + 1 if name in NEED_THE_JUDGE else 0
    items.sort(key=rank)


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


def run_in_process(script, *args, results_dir, data_dir=DATA_DIR, check=True):
    """What `run_script` does, without a new Python: the script runs as __main__ in this process,
    on the same command line and environment, its stdout and stderr caught. This spares the
    4-5 s a fresh interpreter spends importing TensorFlow; tests that need a process of their own
    (signals, file-size limits, TensorFlow's start-up log) use run_script."""
    import contextlib
    import io
    import runpy
    from common import runs
    argv = [os.path.join(ROOT, script), *map(str, args), "--results_dir", str(results_dir),
            "--data_dir", str(data_dir)]
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_env = sys.argv, dict(os.environ)
    sys.argv = argv
    os.environ.update({k: v for k, v in script_env().items() if k in ("MNIST_MIRRORS", "MPLBACKEND")})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(argv[0], run_name="__main__")
                code = 0
            except SystemExit as e:  # as the interpreter reports it: a message goes to stderr, exit 1
                code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
                if isinstance(e.code, str):
                    print(e.code, file=err)
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        if runs.Run.active is not None and runs.Run.active._lock is not None:
            runs.Run.active._lock.close()  # as the process's end would: the run is free again
        runs.Run.active = None
    proc = subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"{' '.join(argv)} exited {code}\n{proc.stdout}\n{proc.stderr}")
    return proc


def read_metrics(run):
    """The run's metrics.json, as a dict."""
    with open(os.path.join(run, "metrics.json")) as f:
        return json.load(f)


def read_log(run):
    """The text of the run's log/log.txt."""
    with open(os.path.join(run, "log", "log.txt")) as f:
        return f.read()


def train_run(tmp_path_factory, script, model, *args, in_process=False):
    """Train `script` with `args` into a fresh results folder: (results folder, run folder, process).
    A lesson's own short run goes through a fresh Python, as a user's does; the others may run
    in this process."""
    results = tmp_path_factory.mktemp("results")
    runner = run_in_process if in_process else run_script
    proc = runner(script, "--train", "True", *args, results_dir=results)
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
    import tensorflow.compat.v1 as tf
    from common import mnist
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, args.seed)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        untrained = ssa.accuracy(sess, g, data.validation)
        for step in range(iterations):
            losses = ssa.train_step(sess, g, ssa.next_feed(g, unlabelled, labelled, args, step))
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


def read_png(path, cells=None):
    """A PNG as an (height, width, 3) array of RGB in 0..1. With cells=(rows, cols): the grey
    picture its axes show (a grid of digits, the rows of reconstructions), found as the largest
    block of rows and columns that are mostly not white, inside the axes' frame, cut into
    rows x cols equal cells, as a (rows, cols, 28, 28) array of brightness."""
    import matplotlib.image
    import numpy as np
    image = matplotlib.image.imread(path)[..., :3].astype(float)
    if cells is None:
        return image

    def widest_run(mostly_drawn):
        best, start = (0, 0), None
        for i, drawn in enumerate([*mostly_drawn, False]):
            if drawn and start is None:
                start = i
            elif not drawn and start is not None:
                best, start = max(best, (start, i), key=lambda b: b[1] - b[0]), None
        return slice(*best)

    drawn = image.min(axis=2) < 0.99
    rows = widest_run(drawn.mean(axis=1) > 0.5)
    cols = widest_run(drawn[rows].mean(axis=0) > 0.5)
    picture = image[rows, cols].mean(axis=2)
    while picture[0].mean() > 0.9:  # the light grey line of the axes' frame
        picture = picture[1:]
    while picture[-1].mean() > 0.9:
        picture = picture[:-1]
    while picture[:, 0].mean() > 0.9:
        picture = picture[:, 1:]
    while picture[:, -1].mean() > 0.9:
        picture = picture[:, :-1]
    # each cell read at the centres of its 28 x 28 pixels, wherever the drawing's rounding put it
    ys, xs = ((np.arange(n * 28) + 0.5) * size / (n * 28) for n, size in zip(cells, picture.shape))
    sampled = picture[ys.astype(int)][:, xs.astype(int)]
    return sampled.reshape(cells[0], 28, cells[1], 28).transpose(0, 2, 1, 3)


def differing_pairs(cells):
    """The share of pairs of cells that differ somewhere by over 0.15 in brightness, each cell
    averaged over 7 x 7 pixels first: a grid of one digit repeated measured 6%."""
    import numpy as np
    rows, cols = cells.shape[:2]
    pooled = cells.reshape(rows * cols, 4, 7, 4, 7).mean((2, 4)).reshape(rows * cols, 16)
    return (np.abs(pooled[:, None] - pooled[None]).max(-1) > 0.15).mean()


def make_run(results, model, name, checkpoint_step=None, finished=False):
    """A run folder as a script leaves it (run.json, log; a checkpoint's index if asked)."""
    path = os.path.join(str(results), model, name)
    for folder in ("Saved_models", "Tensorboard", "log"):
        os.makedirs(os.path.join(path, folder))
    import autoencoder
    from common import flags, runs
    args = flags.parse(autoencoder.arg_parser(), ["--results_dir", str(results)])
    runs.write_atomically(os.path.join(path, "run.json"), json.dumps({"model": model, "args": vars(args)}))
    if checkpoint_step is not None:
        open(os.path.join(path, "Saved_models", f"{model.lower()}-{checkpoint_step}.index"), "w").close()
    if finished:
        runs.write_atomically(os.path.join(path, "metrics.json"), "{}")
    return path
