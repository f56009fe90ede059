"""A run folder, `Results/<Model>/<timestamp>_<params>/`, and the chores of a training loop.

A run holds Tensorboard/, Saved_models/, log/log.txt, run.json (its flags) and metrics.json (its
final figures). `start()` makes a new one or reopens one to resume; `Run.find()` picks the one
that `--train False` draws. Checkpoints keep the weights, every optimiser slot and the state of
every random choice, so a resumed run continues exactly. They are found by their own files and
saved with relative paths, so a run folder can be moved or copied anywhere, and each is read in
full before it is used, so a damaged one is reported in one line and the one before it is used.
"""
import contextlib
import datetime
import fcntl
import glob
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time

import numpy as np
import tensorflow.compat.v1 as tf
from tqdm import tqdm

from common import UserError, precision, readable
from common.mnist import rng_state, set_rng_state


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
        self.fresh = False  # made by this process (see discard_unstarted())
        self.started = False  # a training iteration has run
        self._lock = None
        self.seconds_outside_training = 0.0  # summaries, evaluation, figures, checkpoints
        self.epoch_seconds = []  # (whole epoch, outside training) of each epoch ended here
        self._epoch_started, self._epoch_outside = time.perf_counter(), 0.0

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
            run.fresh = True
            Run.active = run  # from here on, a start that fails removes the folder
            for folder in (run.tensorboard, run.saved_models, os.path.dirname(run.log_file)):
                os.makedirs(folder)
            with open(os.path.join(path, "run.json"), "w") as f:
                json.dump({"model": model, "args": vars(args)}, f, indent=2)
        except OSError as e:
            raise UserError(f"cannot create a run folder under {parent}: {e.strerror or e}") from None
        return run

    @classmethod
    def find(cls, args, model, which=None, newest_only=False, train_first=None):
        """An existing run: the folder named, or the newest of this model that has a checkpoint.

        newest_only (for --resume): the newest run of this model, which must have a checkpoint;
        an older one is never taken in its place. train_first: the command that makes such a run,
        when it is not this script's own `--train True`.
        """
        if which and which != "latest":
            if not os.path.isdir(which):
                raise UserError(f"run folder {which} does not exist.")
            run = cls(which, model)
            run.check_model()
            if not run.checkpoints():
                others = glob.glob(os.path.join(run.saved_models, "*.index"))
                raise UserError(f"run {which} has no checkpoint of {model}: " + (
                    f"its Saved_models/ holds {', '.join(sorted(map(os.path.basename, others)))}."
                    if others else "it was stopped before its first save."))
            return run
        parent = os.path.join(args.results_dir, model)
        names = sorted(os.listdir(parent)) if os.path.isdir(parent) else []
        runs = [cls(os.path.join(parent, n), model) for n in names
                if os.path.isdir(os.path.join(parent, n))]
        with_checkpoint = [r for r in runs if r.checkpoints()]
        if newest_only and runs and not runs[-1].checkpoints():
            raise UserError(f"the newest run, {runs[-1].path}, has no checkpoint (it was stopped "
                            f"before its first save), so it cannot be resumed. Resume another with "
                            f"--resume RUN_FOLDER, or start a new run without --resume.")
        if not with_checkpoint:
            train_first = train_first or f"python {os.path.basename(sys.argv[0])} --train True"
            found = f"{len(runs)} run(s) in {parent}, none with a checkpoint" if runs else f"no runs in {parent}"
            raise UserError(f"{found}. Train first: {train_first}")
        newest = with_checkpoint[-1]
        newest.check_model()  # its run.json says how to rebuild it: without one, say so
        return newest

    def config(self):
        try:
            with open(os.path.join(self.path, "run.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def check_model(self):
        config = self.config()
        if not isinstance(config, dict) or not isinstance(config.get("args"), dict):
            config = None
        if config is None or config.get("model") != self.model:
            other = config.get("model") if config else "not a run of this project"
            raise UserError(f"{self.path} is not a run of {self.model} ({other}).")

    def adopt_args(self, args, keep=()):
        """Take the run's saved flags, so that its checkpoint is rebuilt exactly as it was trained.

        Flags in `keep` stay as given; any other flag given on the command line must agree.
        """
        from common.flags import RUN_CONTROL, check_saved
        recorded = self.config()["args"]
        for key, saved in recorded.items():
            if key in keep or key in RUN_CONTROL or not hasattr(args, key):
                continue
            # run.json may have been edited: its values must pass the checks the flags do
            try:
                saved = check_saved(key, saved)
            except ValueError as refused:
                raise UserError(f"{self.path}/run.json gives --{key} {saved!r}, which this script "
                                f"refuses: {refused}.") from None
            if key in args.given and getattr(args, key) != saved:
                raise UserError(f"{self.path} was trained with --{key} {saved}, "
                                f"not {getattr(args, key)}.")
            setattr(args, key, saved)
        # A run made before a flag existed does not record it: it was trained the old way, which
        # today's default may not be, so say which values are assumed and how to change them.
        unrecorded = [k for k in vars(args) if k not in recorded and k not in RUN_CONTROL]
        if unrecorded:
            # A default of None is settled later from the other flags (see each check_flags).
            assumed = " ".join(f"--{k} {getattr(args, k)}" if getattr(args, k) is not None
                               else f"--{k} (today's default for the other flags)"
                               for k in unrecorded)
            print(f"warning: {self.path}/run.json, written by an earlier version, does not record "
                  f"{', '.join('--' + k for k in unrecorded)}; assuming {assumed} (give the "
                  "values it was trained with on the command line).", file=sys.stderr)
        return args

    def hold(self):
        """Lock the run for this process until it exits, or refuse (UserError) if another holds it.

        The lock is the kernel's (flock on run.json), so a process that dies, even by SIGKILL,
        lets go of it.
        """
        path = os.path.join(self.path, "run.json")
        try:
            self._lock = open(path)
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{self.path} is being trained by another process; wait until it "
                            f"stops, or stop it first.") from None
        except OSError as e:
            raise UserError(f"cannot open {path}: {e.strerror or e}.") from None

    # -- logging ----------------------------------------------------------------------------

    def log(self, message, echo=True):
        with open(self.log_file, "a") as f:
            f.write(message + "\n")
        if echo:
            tqdm.write(message)

    def write_metrics(self, metrics, args, step, steps_per_epoch):
        """metrics.json: how far the run went, in what precision and where its time went, then
        the script's own figures."""
        metrics = {"steps": step, "epochs": round(step / steps_per_epoch, 3),
                   "precision": precision.effective(args.precision),
                   "seconds_outside_training": round(self.seconds_outside_training, 1),
                   "epoch_seconds": self.epoch_seconds, **metrics}
        write_atomically(os.path.join(self.path, "metrics.json"), json.dumps(metrics, indent=2))

    def scalars(self, tag):
        """(steps, values) of a scalar summary, read back from this run's TensorBoard events.

        TensorBoard's own reader drops the events that a resume wrote over (see the SessionLog
        marker of summaries.drop_after()), so every step appears once.
        """
        from tensorboard.backend.event_processing import event_accumulator
        events = event_accumulator.EventAccumulator(self.tensorboard, size_guidance={"scalars": 0})
        events.Reload()
        points = events.Scalars(tag) if tag in events.Tags()["scalars"] else []
        return np.array([p.step for p in points]), np.array([p.value for p in points])

    # -- checkpoints ----------------------------------------------------------------------------

    def checkpoints(self):
        """[(step, prefix)] of the checkpoints in Saved_models/, newest first.

        They are found by their files, not by the `checkpoint` file TensorFlow writes beside them:
        in runs written before paths were relative, that file names the folder where the run was
        trained, which after a move no longer exists, and after a copy is another run.
        """
        pattern = re.compile(re.escape(self.model.lower()) + r"-(\d+)\.index")
        names = os.listdir(self.saved_models) if os.path.isdir(self.saved_models) else []
        steps = sorted((int(m.group(1)) for m in map(pattern.fullmatch, names) if m), reverse=True)
        return [(step, os.path.join(self.saved_models, f"{self.model.lower()}-{step}"))
                for step in steps]

    def save(self, sess, saver, step, **random_sources):
        """Save weights, optimiser slots and every random state needed to continue exactly.

        The new checkpoint and the newest one before it are kept; any other is deleted, a
        checkpoint of a later step too (it belongs to the future that a resume replaced).
        """
        prefix = os.path.join(self.saved_models, self.model.lower())
        states = {name: source_state(src) for name, src in random_sources.items()}
        existed = any(s == step for s, _ in self.checkpoints())
        try:
            write_atomically(f"{prefix}-{step}.state.json", json.dumps(states))
            # No .meta file: the scripts rebuild their graph from code, and it would cost a few
            # percent of a short epoch to write it every time.
            saver.save(sess, prefix, global_step=step, write_meta_graph=False)
        except (tf.errors.OpError, OSError, UserError) as e:  # a full disk, say
            if not existed:  # what the failed save wrote would only fill the disk further
                for path in glob.glob(f"{glob.escape(prefix)}-{step}[._]*"):
                    if os.path.isdir(path):  # TensorFlow's temporary folder of the shards
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        os.remove(path)
            raise UserError(f"could not save the checkpoint of step {step} in {self.saved_models}: "
                            f"{op_error_reason(e).rstrip('.')}. The previous checkpoint is kept.") from None
        older = [s for s, _ in self.checkpoints() if s < step]
        kept = {step, *older[:1]}
        for name in os.listdir(self.saved_models):
            found = re.fullmatch(re.escape(self.model.lower()) + r"-(\d+)\..*", name)
            if found and int(found.group(1)) not in kept:
                os.remove(os.path.join(self.saved_models, name))
        # TensorFlow's own index of the checkpoints, for its tools: names relative to the folder.
        name = self.model.lower()
        tf.train.update_checkpoint_state(self.saved_models, f"{name}-{step}",
                                         [f"{name}-{s}" for s in sorted(kept)])

    def newest_good_step(self):
        """The step of the checkpoint that restore() would load (-1 if none is whole)."""
        for step, prefix in self.checkpoints():
            try:
                check_readable(prefix)
                read_states(prefix, {})
                return step
            except Damaged:
                continue
        return -1

    def restore(self, sess, saver, **random_sources):
        """Load the newest good checkpoint (and the random states, if asked for); return its step.

        A damaged checkpoint is named in one line and the one before it is used instead.
        """
        damaged = []
        for step, prefix in self.checkpoints():
            try:
                states = read_states(prefix, random_sources) if random_sources else {}
                check_readable(prefix)
            except Damaged as e:
                damaged.append(str(e))
                tqdm.write(f"warning: {e}; trying the checkpoint before it.", file=sys.stderr)
                continue
            try:
                check_shapes(sess.graph, prefix)
                saver.restore(sess, prefix)
            except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
                raise UserError(f"the checkpoint {prefix} does not fit this model "
                                f"(another script or other flags?): {op_error_reason(e)}") from None
            for name, source in random_sources.items():
                set_source_state(source, states[name])
            if damaged:
                tqdm.write(f"Using the checkpoint of step {step} instead.", file=sys.stderr)
            return step
        raise UserError(f"no usable checkpoint in {self.saved_models}: " + "; ".join(damaged))

    # -- the training loop's chores -------------------------------------------------------------

    def steps(self, start, args, steps_per_epoch):
        """Iteration numbers from start on, one progress bar per epoch.

        Stops early at --max_steps, or after the current iteration when Ctrl-C or SIGTERM
        arrives (then `self.stop_signal` is set and the caller saves before exiting).
        """
        total = total_steps(args, steps_per_epoch)
        self.check_space()
        previous = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            step = start
            while step < total and self.stop_signal is None:
                epoch = step // steps_per_epoch
                end = min(total, (epoch + 1) * steps_per_epoch)
                self._epoch_started, self._epoch_outside = time.perf_counter(), 0.0
                with tqdm(total=steps_per_epoch, initial=step - epoch * steps_per_epoch,
                          desc=f"epoch {epoch + 1}/{args.epochs}", unit="it", leave=False,
                          dynamic_ncols=True, disable=None) as bar:
                    while step < end and self.stop_signal is None:
                        self.step, self.started = step, True
                        yield step
                        step += 1
                        bar.update()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextlib.contextmanager
    def outside_training(self):
        """Count the time of the block as spent outside the training iterations."""
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self._epoch_outside += spent
            self.seconds_outside_training += spent

    def epoch_time(self):
        """How long the epoch ending now took, and how much of it went outside training."""
        seconds = time.perf_counter() - self._epoch_started
        self.epoch_seconds.append((round(seconds, 3), round(self._epoch_outside, 3)))
        return (f"{seconds:.1f} s, {self._epoch_outside:.2f} s of it summaries, evaluation and "
                f"checkpoint")

    def check_space(self):
        """Refuse to start training where the disk cannot hold this model's checkpoints.

        A save writes the new checkpoint before it deletes the oldest of the two it keeps, so
        three checkpoints (weights and Adam slots: the graph's variables) must fit. Those already
        in Saved_models/ (a resumed run's) count as room: they are part of the three.
        """
        size = sum(v.shape.num_elements() * v.dtype.size for v in tf.global_variables())
        saved = sum(os.path.getsize(os.path.join(self.saved_models, name))
                    for name in os.listdir(self.saved_models)
                    if re.fullmatch(re.escape(self.model.lower()) + r"-\d+\..*", name))
        free = shutil.disk_usage(self.saved_models).free + saved
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
        """Stop, naming the step and the last good checkpoint, when a loss is not finite or has
        exploded (see EXPLODED)."""
        bad = {k: v for k, v in losses.items() if not np.isfinite(v) or abs(v) > EXPLODED}
        if bad:
            saved = self.checkpoints()
            kept = f"the last good checkpoint is {saved[0][1]}" if saved else "no checkpoint was saved yet"
            message = (f"training diverged at step {step}: " +
                       ", ".join(f"{k} = {v}" for k, v in bad.items()) + f"; {kept}.")
            self.log(message, echo=False)
            raise UserError(message + " Try a smaller --learning_rate.")


# No loss of these lessons comes near this while training works: a mean squared error of pixels
# is at most 1, and a cross-entropy of 1000 nats gives the right answer a probability of
# e^-1000. A run whose learning rate is far too large reaches it within a few steps (part 4 at
# --learning_rate 1000: a supervised loss of 16 million at step 0) without ever reaching inf.
EXPLODED = 1e3


class Damaged(Exception):
    """A checkpoint file that cannot be read in full; the message names it."""


def check_readable(prefix):
    """Read every tensor of a checkpoint, as restoring it would, and say which file fails."""
    index, data = f"{prefix}.index", f"{prefix}.data-00000-of-00001"
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception as e:  # TensorFlow reports a bad index as one of several error types
        raise Damaged(f"{index} is damaged ({op_error_reason(e)})") from None
    try:
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as e:  # a truncated data file raises IndexError, a bad checksum an OpError
        raise Damaged(f"{data} is damaged ({op_error_reason(e)})") from None


def check_shapes(graph, prefix):
    """Raise InvalidArgumentError if a variable of the graph has another shape in the checkpoint.

    Restoring does not check this itself: a resource variable silently takes the saved tensor of
    another shape (a run.json edited from --z_dim 2 to 3 restored, then failed when fed).
    """
    saved = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    for variable in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES):
        name, shape = variable.op.name, variable.shape.as_list()
        if name in saved and saved[name] != shape:
            raise tf.errors.InvalidArgumentError(
                None, None, f"{name} is {saved[name]} in the checkpoint, {shape} in this model")


def read_states(prefix, random_sources):
    """The saved states of the named random sources, from <prefix>.state.json."""
    path = f"{prefix}.state.json"
    try:
        with open(path) as f:
            states = json.load(f)
        missing = [name for name in random_sources if name not in states]
    except (OSError, ValueError, TypeError) as e:
        raise Damaged(f"{path} is damaged or missing ({e})") from None
    if missing:
        raise Damaged(f"{path} is damaged: it lacks the state of {', '.join(missing)}")
    return states


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
    """Write a whole file or, failing that (a full disk), leave the old one and say why."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        readable(fd)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp and os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError):
            raise UserError(f"cannot write {path}: {e.strerror or e}.") from None
        raise


def to_resume(args, model):
    """With --resume, the run to continue, whose saved flags now replace the defaults; else None.

    Called first, before the flags decide anything (which images are labelled, the graph), so
    that a resumed run is rebuilt exactly as it was trained. A new --epochs may extend it. A
    plain --resume takes the newest run of the script, and only that one.
    """
    if not args.resume:
        return None
    run = Run.find(args, model, args.resume, newest_only=True)
    run.adopt_args(args, keep=("epochs",) if "epochs" in args.given else ())
    return run


def total_steps(args, steps_per_epoch):
    """The iteration a run stops at: the end of --epochs, or --max_steps if that comes first."""
    total = args.epochs * steps_per_epoch
    return min(total, args.max_steps) if args.max_steps else total


def start(args, model, resumed, *datasets):
    """The run to train: `resumed` (see to_resume()), or a new folder; held by this process
    alone until it ends.

    The first of the datasets is the one whose pass is an epoch. Each must be larger than its
    own batches (see DataSet.batch_flag); a batch larger is refused before a folder is made.
    A resumed run that has already reached its last step is refused, with nothing written.
    """
    for dataset in datasets:
        dataset.check_batch_size(getattr(args, dataset.batch_flag))
    if resumed:
        run = resumed
        check_writable(run.path)
        run.hold()
        total = total_steps(args, datasets[0].num_examples // args.batch_size)
        step = run.checkpoints()[0][0]
        if step >= total and os.path.exists(os.path.join(run.path, "metrics.json")) and \
                run.newest_good_step() >= total:
            raise UserError(f"{run.path} already finished at step {step}; raise --epochs (or "
                            f"--max_steps) to train it further.")
        run.log(f"Resuming {run.path}")
    else:
        check_writable(args.results_dir)
        run = Run.create(args, model)
        run.hold()
        run.log(f"Run folder: {run.path}")
    Run.active = run
    return run


def discard_unstarted():
    """Remove the run folder this process made if training never began (a refusal, Ctrl-C,
    an error before the first iteration): it would hold nothing but an empty log."""
    run = Run.active
    if run is not None and run.fresh and not run.started:
        shutil.rmtree(run.path, ignore_errors=True)
        Run.active = None


def interrupted():
    """What a KeyboardInterrupt (a second Ctrl-C, or one before training) leaves: one line."""
    run = Run.active
    if run is None or not run.started:
        return "interrupted before training began; no run folder was kept."
    saved = run.checkpoints()
    kept = (f"its last checkpoint, {saved[0][1]}, is kept. Resume with:  python "
            f"{os.path.basename(sys.argv[0])} --resume {run.path}") if saved else \
        f"{run.path} had no checkpoint yet."
    return f"aborted at step {run.step}; {kept}"


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
