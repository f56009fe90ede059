"""Plumbing shared by the four lessons: MNIST, flags, run folders, checkpoints and figures.

Nothing in this file is part of a model. Each lesson script builds its own networks, losses,
optimisers and training loop; it comes here only for the chores around them:

- `load_mnist()` reads the four MNIST IDX files (downloading them if they are missing) and
  gives the classic 55,000 / 5,000 / 10,000 split with a `next_batch()` like TensorFlow 1's.
- `arg_parser()` declares the flags every script shares; `main()` runs a script and turns a
  user's mistake into one clear message instead of a traceback.
- `Run` is a run folder (`Results/<Model>/<timestamp>_<params>/`): its log, its checkpoints,
  the random state needed to resume it, its progress bar and its reaction to Ctrl-C.
- `save_figure()` and friends write the pictures as PNG files (and show them where a screen exists).

Importing this module also configures TensorFlow (oneDNN on, quiet logs, graph mode), so the
scripts import it before TensorFlow.
"""
import argparse
import datetime
import gzip
import hashlib
import io
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import urllib.request
import zlib

# These must be set before TensorFlow is imported. oneDNN's kernels are off by default on AMD
# CPUs and make every step here about 1.3x faster with the same results.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hides "failed call to cuInit" on CPU machines

import numpy as np
import tensorflow.compat.v1 as tf
from tqdm import tqdm

tf.disable_eager_execution()
tf.logging.set_verbosity(tf.logging.ERROR)


class UserError(Exception):
    """Something the user can fix (a flag, a file, a folder): reported in one line, no traceback."""


# --------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------

MNIST_FILES = {  # file name: md5 of the published .gz
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Public copies of the original files (Yann LeCun's own site now refuses downloads).
# MNIST_MIRRORS in the environment (space-separated base URLs) replaces this list.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
IDX_IMAGES, IDX_LABELS = 2051, 2049  # magic numbers: unsigned bytes, 3 and 1 dimensions
VALIDATION_SIZE = 5000


def md5_of(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path, magic, md5=None):
    """Read one gzipped IDX file into a uint8 array, refusing anything damaged."""
    try:
        if md5 is not None and md5_of(path) != md5:
            raise UserError(f"{path} is damaged (its md5 is not {md5}). Delete it to download "
                            f"it again, or replace it with a good copy.")
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise UserError(f"{path} is truncated or not a gzip file ({e}).") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}.") from None
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        raise UserError(f"{path} is not an IDX file of the expected kind "
                        f"(magic number {found}, expected {magic}).")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise UserError(f"{path} is truncated: its header promises shape {shape}, "
                        f"but it holds {len(raw) - header} bytes of data.")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def download_mnist(names, data_dir, mirrors=None):
    """Fetch the named files into data_dir, each verified before it takes its final name."""
    if mirrors is None:
        mirrors = os.environ.get("MNIST_MIRRORS", "").split() or MNIST_MIRRORS
    os.makedirs(data_dir, exist_ok=True)
    failures = []
    for name in names:
        path = os.path.join(data_dir, name)
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            fd, partial = tempfile.mkstemp(prefix=name + ".", suffix=".part", dir=data_dir)
            try:
                print(f"Downloading {url}", file=sys.stderr)
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        out.write(block)
                if md5_of(partial) != MNIST_FILES[name]:
                    raise ValueError("md5 mismatch")
                os.replace(partial, path)  # only a verified file ever gets the real name
                break
            except (OSError, ValueError) as e:
                failures.append(f"{url}: {e}")
            finally:
                if os.path.exists(partial):
                    os.remove(partial)
        else:
            missing = [n for n in names if not os.path.exists(os.path.join(data_dir, n))]
            raise UserError(
                "MNIST is missing and could not be downloaded.\n"
                f"Put these files into {os.path.abspath(data_dir)}/ (or point --data_dir at them):\n  "
                + "\n  ".join(missing)
                + "\nDownload attempts:\n  " + "\n  ".join(failures))


class DataSet:
    """Images and one-hot labels, served in shuffled batches like TensorFlow 1's MNIST helper."""

    def __init__(self, images, labels, seed):
        self.images, self.labels = images, labels
        self.num_examples = len(images)
        self.rng = np.random.RandomState(seed)
        self._order = self.rng.permutation(self.num_examples)
        self._next = 0

    def next_batch(self, batch_size):
        # A new permutation at each epoch start; a remainder smaller than a batch is skipped.
        if self._next + batch_size > self.num_examples:
            self._order = self.rng.permutation(self.num_examples)
            self._next = 0
        idx = self._order[self._next:self._next + batch_size]
        self._next += batch_size
        return self.images[idx], self.labels[idx]

    def get_state(self):
        return {"order": self._order.tolist(), "next": self._next, "rng": rng_state(self.rng)}

    def set_state(self, state):
        self._order, self._next = np.array(state["order"]), state["next"]
        set_rng_state(self.rng, state["rng"])


class Datasets:
    def __init__(self, train, validation, test):
        self.train, self.validation, self.test = train, validation, test


def load_mnist(data_dir="Data", seed=0, mirrors=None):
    """The four MNIST files from data_dir (downloaded if missing) as train/validation/test."""
    missing = [n for n in MNIST_FILES if not os.path.exists(os.path.join(data_dir, n))]
    if missing:
        download_mnist(missing, data_dir, mirrors)
    arrays = {name: read_idx(os.path.join(data_dir, name),
                             IDX_IMAGES if "images" in name else IDX_LABELS, md5)
              for name, md5 in MNIST_FILES.items()}

    def split(images, labels, lo, hi, seed):
        x = images[lo:hi].reshape(-1, 784).astype(np.float32) / 255.0
        return DataSet(x, np.eye(10, dtype=np.float32)[labels[lo:hi]], seed)

    train_x, train_y = arrays["train-images-idx3-ubyte.gz"], arrays["train-labels-idx1-ubyte.gz"]
    test_x, test_y = arrays["t10k-images-idx3-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]
    n_train = len(train_x) - VALIDATION_SIZE
    return Datasets(train=split(train_x, train_y, 0, n_train, seed),
                    validation=split(train_x, train_y, n_train, len(train_x), seed + 1),
                    test=split(test_x, test_y, 0, len(test_x), seed + 2))


def split_labelled(dataset, n_labels, seed):
    """(labelled, unlabelled): n_labels images, the same number of each digit, chosen by seed.

    The labelled images are taken out of `dataset` (the training split), so the unlabelled set,
    validation and test never share an image with them.
    """
    digits = dataset.labels.argmax(1)
    per_class = n_labels // 10
    smallest = np.bincount(digits, minlength=10).min()
    if n_labels % 10 or not 0 < per_class <= smallest:
        raise UserError(f"--n_labels must be a positive multiple of 10 and at most "
                        f"{10 * smallest} (the training split has {smallest} of its rarest digit); "
                        f"got {n_labels}.")
    rng = np.random.RandomState(seed)
    chosen = np.sort(np.concatenate([rng.choice(np.flatnonzero(digits == d), per_class, replace=False)
                                     for d in range(10)]))
    rest = np.setdiff1d(np.arange(dataset.num_examples), chosen)
    return (DataSet(dataset.images[chosen], dataset.labels[chosen], seed + 3),
            DataSet(dataset.images[rest], dataset.labels[rest], seed + 4))


def rng_state(rng):
    kind, keys, pos, has_gauss, cached = rng.get_state()
    return {"keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss),
            "cached": float(cached)}


def set_rng_state(rng, state):
    rng.set_state(("MT19937", np.array(state["keys"], dtype=np.uint32), state["pos"],
                   state["has_gauss"], state["cached"]))


# --------------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------------

def boolean(text):
    value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    try:
        return value[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}") from None


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def beta(text):
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


def arg_parser(doc, z_dim, epochs=1000):
    """The flags all four scripts share; a script may add its own before parsing."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     allow_abbrev=False)
    add = parser.add_argument
    add("--train", type=boolean, default=True,
        help="True: train a new run. False: load a run and draw its figures")
    add("--resume", nargs="?", const="latest", metavar="RUN_FOLDER",
        help="continue an interrupted run: the newest one, or the folder given")
    add("--run", metavar="RUN_FOLDER",
        help="the run that --train False loads (default: the newest with a checkpoint)")
    add("--epochs", type=positive(int), default=epochs, help="passes over the training images")
    add("--batch_size", type=positive(int), default=100, help="images per iteration")
    add("--learning_rate", type=positive(float), default=0.001, help="Adam's learning rate")
    add("--beta1", type=beta, default=0.9, help="Adam's beta1")
    add("--z_dim", type=positive(int), default=z_dim, help="size of the latent code z")
    add("--seed", type=int, default=0, help="seed of every random choice: same seed, same run")
    add("--max_steps", type=positive(int), default=None,
        help="stop after this many iterations in all (for smoke runs and tests)")
    add("--data_dir", default="Data", help="folder holding the four MNIST .gz files")
    add("--results_dir", default="Results", help="folder that receives the runs")
    return parser


RUN_CONTROL = ("train", "resume", "run", "max_steps", "data_dir", "results_dir", "given")


def parse_args(parser, argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    # Which flags the user typed, as opposed to defaults: a loaded run's own flags win over defaults.
    args.given = sorted({a[2:].split("=")[0] for a in argv if a.startswith("--")})
    if args.resume and not args.train:
        parser.error("--resume continues training; it cannot go with --train False")
    return args


def main(parser, train, draw, argv=None):
    """Parse the flags, then train or draw; a UserError ends the program with its message."""
    args = parse_args(parser, argv)
    try:
        (train if args.train else draw)(args)
    except UserError as e:
        sys.exit(f"error: {e}")
    except tf.errors.InvalidArgumentError as e:
        # A histogram summary refuses NaN before the loss check sees it: the same divergence.
        if "Nan in summary" not in str(e) or Run.active is None:
            raise
        try:
            Run.active.check_finite(Run.active.step, weights=float("nan"))
        except UserError as diverged:
            sys.exit(f"error: {diverged}")


# --------------------------------------------------------------------------------------------
# Run folders, checkpoints, logs
# --------------------------------------------------------------------------------------------

class Interrupted(Exception):
    pass


class Run:
    """One run folder: Tensorboard/, Saved_models/, log/log.txt, run.json and metrics.json."""

    active = None  # the run being trained, so that main() can name its step if training diverges

    def __init__(self, path, model):
        self.path, self.model = path, model
        self.tensorboard = os.path.join(path, "Tensorboard")
        self.saved_models = os.path.join(path, "Saved_models")
        self.log_file = os.path.join(path, "log", "log.txt")
        self.stop_signal = None
        self.step = 0

    # -- finding and creating ------------------------------------------------------------

    @classmethod
    def create(cls, args, model):
        """A new folder named <timestamp>_<z_dim>_<lr>_<batch>_<epochs>_<beta1>_<model>."""
        parent = os.path.join(args.results_dir, model)
        stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        name = f"{stamp}_{args.z_dim}_{args.learning_rate}_{args.batch_size}_{args.epochs}_{args.beta1}_{model}"
        try:
            os.makedirs(parent, exist_ok=True)
            for n in range(1, 1000):  # runs started within the same second get _002, _003, ...
                path = os.path.join(parent, name if n == 1 else f"{name}_{n:03d}")
                try:
                    os.mkdir(path)
                    break
                except FileExistsError:
                    continue
            run = cls(path, model)
            for folder in (run.tensorboard, run.saved_models, os.path.dirname(run.log_file)):
                os.makedirs(folder)
            with open(os.path.join(path, "run.json"), "w") as f:
                json.dump({"model": model, "args": vars(args)}, f, indent=2)
        except OSError as e:
            raise UserError(f"cannot create a run folder under {parent}: {e.strerror or e}") from None
        return run

    @classmethod
    def find(cls, args, model, which=None):
        """An existing run: the folder named, or the newest of this model that has a checkpoint."""
        if which and which != "latest":
            if not os.path.isdir(which):
                raise UserError(f"run folder {which} does not exist.")
            run = cls(which, model)
            run.check_model()
            if not run.has_checkpoint():
                raise UserError(f"run {which} has no checkpoint: it was stopped before its first save.")
            return run
        parent = os.path.join(args.results_dir, model)
        names = sorted(os.listdir(parent)) if os.path.isdir(parent) else []
        runs = [cls(os.path.join(parent, n), model) for n in names
                if os.path.isdir(os.path.join(parent, n))]
        with_checkpoint = [r for r in runs if r.has_checkpoint()]
        if not with_checkpoint:
            script = os.path.basename(sys.argv[0]) or "the script"
            found = f"{len(runs)} run(s) in {parent}, none with a checkpoint" if runs else f"no runs in {parent}"
            raise UserError(f"{found}. Train first: python {script} --train True")
        return with_checkpoint[-1]

    def config(self):
        try:
            with open(os.path.join(self.path, "run.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def check_model(self):
        config = self.config()
        if config is None or config.get("model") != self.model:
            other = config.get("model") if config else "not a run of this project"
            raise UserError(f"{self.path} is not a run of {self.model} ({other}).")

    def adopt_args(self, args, keep=()):
        """Take the run's saved flags, so that its checkpoint is rebuilt exactly as it was trained.

        Flags in `keep` stay as given; any other flag given on the command line must agree.
        """
        for key, saved in self.config()["args"].items():
            if key in keep or key in RUN_CONTROL or not hasattr(args, key):
                continue
            if key in args.given and getattr(args, key) != saved:
                raise UserError(f"{self.path} was trained with --{key} {saved}, "
                                f"not {getattr(args, key)}.")
            setattr(args, key, saved)
        return args

    def has_checkpoint(self):
        return tf.train.latest_checkpoint(self.saved_models) is not None

    # -- logging ----------------------------------------------------------------------------

    def log(self, message, echo=True):
        with open(self.log_file, "a") as f:
            f.write(message + "\n")
        if echo:
            tqdm.write(message)

    def write_metrics(self, metrics):
        write_atomically(os.path.join(self.path, "metrics.json"), json.dumps(metrics, indent=2))

    def scalars(self, tag):
        """(steps, values) of a scalar summary, read back from this run's TensorBoard events.

        TensorBoard's own reader drops the events that a resume wrote over (see the SessionLog
        marker of drop_events_after()), so every step appears once.
        """
        from tensorboard.backend.event_processing import event_accumulator
        events = event_accumulator.EventAccumulator(self.tensorboard, size_guidance={"scalars": 0})
        events.Reload()
        points = events.Scalars(tag) if tag in events.Tags()["scalars"] else []
        return np.array([p.step for p in points]), np.array([p.value for p in points])

    # -- checkpoints ----------------------------------------------------------------------------

    def save(self, sess, saver, step, **random_sources):
        """Save weights, optimiser slots and every random state needed to continue exactly."""
        prefix = os.path.join(self.saved_models, self.model.lower())
        states = {name: source_state(src) for name, src in random_sources.items()}
        write_atomically(f"{prefix}-{step}.state.json", json.dumps(states))
        try:
            saver.save(sess, prefix, global_step=step)
        except (tf.errors.OpError, OSError) as e:  # a full disk, say: the previous checkpoint stays
            raise UserError(f"could not save the checkpoint of step {step} in {self.saved_models}: "
                            f"{op_error_reason(e)}. The previous checkpoint is kept.") from None
        kept = {os.path.basename(p) + ".state.json" for p in saver.last_checkpoints}
        for name in os.listdir(self.saved_models):
            if name.endswith(".state.json") and name not in kept:
                os.remove(os.path.join(self.saved_models, name))

    def restore(self, sess, saver, **random_sources):
        """Load the latest checkpoint (and random states, if given); return its step."""
        path = tf.train.latest_checkpoint(self.saved_models)
        try:
            saver.restore(sess, path)
        except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
            raise UserError(f"the checkpoint {path} does not fit this model "
                            f"(another script or other flags?): {op_error_reason(e)}") from None
        step = int(path.rsplit("-", 1)[1])
        if random_sources:
            with open(f"{path}.state.json") as f:
                states = json.load(f)
            for name, source in random_sources.items():
                set_source_state(source, states[name])
        return step

    # -- the training loop's chores -------------------------------------------------------------

    def steps(self, start, args, steps_per_epoch):
        """Iteration numbers from start on, one progress bar per epoch.

        Stops early at --max_steps, or after the current iteration when Ctrl-C or SIGTERM
        arrives (then `self.stop_signal` is set and the caller saves before exiting).
        """
        total = args.epochs * steps_per_epoch
        if args.max_steps:
            total = min(total, args.max_steps)
        self.check_space()
        previous = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            step = start
            while step < total and self.stop_signal is None:
                epoch = step // steps_per_epoch
                end = min(total, (epoch + 1) * steps_per_epoch)
                with tqdm(total=steps_per_epoch, initial=step - epoch * steps_per_epoch,
                          desc=f"epoch {epoch + 1}/{args.epochs}", unit="it", leave=False,
                          dynamic_ncols=True, disable=None) as bar:
                    while step < end and self.stop_signal is None:
                        self.step = step
                        yield step
                        step += 1
                        bar.update()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def check_space(self):
        """Refuse to start training where the disk cannot hold this model's checkpoints.

        A save writes the new checkpoint before it deletes the oldest of the two it keeps, so
        three checkpoints (weights and Adam slots: the graph's variables) must fit.
        """
        size = sum(v.shape.num_elements() * v.dtype.size for v in tf.global_variables())
        free = shutil.disk_usage(self.saved_models).free
        if free < 3 * size:
            raise UserError(f"not enough disk space for checkpoints in {self.saved_models}: "
                            f"{free / 1e6:.0f} MB free, {3 * size / 1e6:.0f} MB needed. Free some "
                            f"space or choose another --results_dir.")

    def _request_stop(self, signum, frame):
        if self.stop_signal is not None:  # a second Ctrl-C: the user really wants out now
            raise KeyboardInterrupt
        self.stop_signal = signum
        tqdm.write("Stopping after this iteration; saving a checkpoint (Ctrl-C again to abort)...")

    def exit_if_interrupted(self, step):
        if self.stop_signal is not None:
            script = os.path.basename(sys.argv[0])
            self.log(f"Interrupted at step {step} by {signal.Signals(self.stop_signal).name}; "
                     f"checkpoint saved. Resume with:\n  python {script} --resume {self.path}")
            sys.exit(128 + self.stop_signal)

    def check_finite(self, step, **losses):
        bad = {k: v for k, v in losses.items() if not np.isfinite(v)}
        if bad:
            last = tf.train.latest_checkpoint(self.saved_models)
            kept = f"the last good checkpoint is {last}" if last else "no checkpoint was saved yet"
            message = (f"training diverged at step {step}: " +
                       ", ".join(f"{k} = {v}" for k, v in bad.items()) + f"; {kept}.")
            self.log(message, echo=False)
            raise UserError(message + " Try a smaller --learning_rate.")


def op_error_reason(error):
    """The line of a TensorFlow error that says what went wrong, without the graph's stack trace."""
    noise = ("Graph execution error", "Detected at node", "File ", "Node:", "[[", "Original stack")
    lines = [l.strip() for l in str(getattr(error, "message", error)).splitlines()]
    return next((l for l in lines if l and not l.startswith(noise)), lines[0] if lines else "")


def source_state(source):
    return rng_state(source) if isinstance(source, np.random.RandomState) else source.get_state()


def set_source_state(source, state):
    if isinstance(source, np.random.RandomState):
        set_rng_state(source, state)
    else:
        source.set_state(state)


def write_atomically(path, text):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def start_run(args, model):
    """The run to train: a new folder, or (with --resume) an existing one to continue."""
    if args.resume:
        run = Run.find(args, model, args.resume)
        run.adopt_args(args, keep=("epochs",) if "epochs" in args.given else ())
        run.log(f"Resuming {run.path}")
    else:
        check_writable(args.results_dir)
        run = Run.create(args, model)
        run.log(f"Run folder: {run.path}")
    Run.active = run
    return run


def check_writable(folder):
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise UserError(f"cannot write to {folder}: {e.strerror or e}") from None


def numbers(values):
    """A short printout of a vector, for log lines: [0.12, -3.40]."""
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


def scalar_summary(writer, step, **values):
    """Write Python numbers (computed outside the graph) as TensorBoard scalars."""
    writer.add_summary(tf.Summary(value=[tf.Summary.Value(tag=tag, simple_value=float(v))
                                         for tag, v in values.items()]), step)


def drop_events_after(writer, step):
    """Make TensorBoard forget this run's events after `step`, the step training starts from.

    A hard crash can leave events logged after the checkpoint a run resumes from; TensorBoard
    drops the events beyond a SessionLog START marker, so no step is shown twice.
    """
    writer.add_session_log(tf.SessionLog(status=tf.SessionLog.START), step + 1)


def image_summary(writer, step, tag, image):
    """Write a grey picture (2-D array of values in [0, 1], made outside the graph) to TensorBoard."""
    import matplotlib.image  # loaded when first needed, as pyplot() is
    png = io.BytesIO()
    matplotlib.image.imsave(png, np.clip(image, 0, 1), cmap="gray", vmin=0, vmax=1, format="png")
    picture = tf.Summary.Image(height=image.shape[0], width=image.shape[1], colorspace=4,
                               encoded_image_string=png.getvalue())
    writer.add_summary(tf.Summary(value=[tf.Summary.Value(tag=tag, image=picture)]), step)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

def has_display():
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def pyplot():
    """matplotlib.pyplot, drawing off-screen when there is no display to open a window on."""
    import matplotlib
    if not has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def tile(images, rows, cols):
    """Lay rows*cols 28x28 images out as one (rows*28, cols*28) picture."""
    return images.reshape(rows, cols, 28, 28).transpose(0, 2, 1, 3).reshape(rows * 28, cols * 28)


def save_figure(fig, path):
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"Saved {path}")


def show_figures():
    plt = pyplot()
    if has_display() and plt.get_backend().lower() != "agg":
        plt.show()
    plt.close("all")
