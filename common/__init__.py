"""Plumbing shared by the four lessons. Nothing in this package is part of a model.

Each lesson script builds its own networks, losses, optimisers and training loop; it comes here
only for the chores around them, one module per chore:

    common/mnist.py      the four MNIST files (downloaded if missing), the split, batches
    common/flags.py      the flags every script shares and their checks
    common/runs.py       a run folder: its log, checkpoints (portable, checked), resume, Ctrl-C
    common/summaries.py  numbers and pictures made outside the graph, for TensorBoard
    common/figures.py    matplotlib figures saved as PNG files
    common/judge.py      an independent digit classifier that scores what a decoder draws
    common/likelihood.py the Parzen-window log-likelihood of test images (part 2, --z_dim 8)
    common/precision.py  --precision: float32, or bfloat16 matrix products where the CPU has them

This file configures TensorFlow before anything imports it, which is why the scripts import
`common` first, and holds `main()`, each script's entry point.
"""
import os
import sys
import tempfile

# These must be set before TensorFlow is imported. oneDNN's kernels are off by default on AMD
# CPUs and make every step here about 1.3x faster with the same results.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up log (oneDNN notice, "Could not find cuda
    drivers", ...) caught in a file rather than printed; return that log.

    Those lines tell a CPU user nothing and come before TensorFlow reads its own log settings.
    Only the import is caught: anything TensorFlow says later, errors included, goes through.
    --verbose prints the caught lines, and so does a failed import, with the error.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            log = caught.read().decode(errors="replace")
            if sys.exc_info()[0] is not None:  # the import failed: its log may say why
                sys.stderr.write(log)
    return log


TENSORFLOW_START_LOG = _import_tensorflow_quietly()

import tensorflow.compat.v1 as tf  # noqa: E402  (after the environment above)

tf.disable_eager_execution()
tf.logging.set_verbosity(tf.logging.ERROR)


class UserError(Exception):
    """Something the user can fix (a flag, a file, a folder): reported in one line, no traceback."""


def readable(fd):
    """Give a file made by tempfile (which makes them private, mode 0600) the permissions of any
    other file the program writes (0666 less the umask), so that whoever can read a run or a data
    folder can read all of it."""
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)


def main(parser, train, draw):
    """Parse the flags, then train or draw; a UserError ends the program with its message."""
    from common import flags, runs
    args = flags.parse(parser)
    if args.verbose:
        sys.stderr.write(TENSORFLOW_START_LOG)
    try:
        try:
            (train if args.train else draw)(args)
        except BaseException:
            runs.discard_unstarted()  # a refused or interrupted start leaves no empty run folder
            raise
    except UserError as e:
        sys.exit(f"error: {e}")
    except KeyboardInterrupt:  # a second Ctrl-C in training, or one before it began
        print(f"error: {runs.interrupted()}", file=sys.stderr)
        sys.exit(130)
    except OSError as e:
        if e.filename is None:  # not about a file or folder: a bug, whose traceback is wanted
            raise
        sys.exit(f"error: cannot write or read {e.filename}: {e.strerror or e}.")
    except tf.errors.InvalidArgumentError as e:
        # A histogram summary refuses NaN before the loss check sees it: the same divergence.
        if "Nan in summary" not in str(e) or runs.Run.active is None:
            raise
        try:
            runs.Run.active.check_finite(runs.Run.active.step, weights=float("nan"))
        except UserError as diverged:
            sys.exit(f"error: {diverged}")
