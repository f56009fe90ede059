"""The flags all four scripts share, and the checks that turn a bad value into a usage error."""
import argparse
import math
import sys

from common import precision


def boolean(text):
    value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    try:
        return value[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}") from None


def number(kind, accept, requirement):
    """A parser of `kind` numbers that refuses, with `requirement`, any value `accept` rejects."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (math.isfinite(value) and accept(value)):
            raise argparse.ArgumentTypeError(f"{requirement}, got {text!r}")
        return value
    return parse


def positive(kind):
    return number(kind, lambda v: v > 0, "must be a positive number")


non_negative = number(float, lambda v: v >= 0, "must be 0 or more")
fraction = number(float, lambda v: 0 <= v <= 1, "must be in [0, 1]")
beta = number(float, lambda v: 0 <= v < 1, "must be in [0, 1)")
degrees = number(float, lambda v: 0 <= v <= 180, "must be from 0 to 180 (degrees)")
# numpy's RandomState takes seeds below 2^32, and the scripts seed their data sets with seed + 1..4
seed = number(int, lambda v: 0 <= v < 2**31, "must be from 0 to 2147483647")
# A code as large as the image it encodes has nothing left to compress.
MAX_Z_DIM = 784


def code_size(smallest):
    return number(int, lambda v: smallest <= v <= MAX_Z_DIM, f"must be from {smallest} to {MAX_Z_DIM}")


def arg_parser(doc, z_dim, epochs=1000, beta1=0.9, min_z_dim=1):
    """The flags all four scripts share; a script may add its own before parsing.

    min_z_dim: the smallest code the script can train and draw (2 where its figures draw the
    code plane).
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     allow_abbrev=False)
    add = parser.add_argument
    # A boolean flag given alone means True: `--train` is `--train True`.
    add("--train", type=boolean, nargs="?", const=True, default=True,
        help="True: train a new run. False: load a run and draw its figures")
    add("--resume", nargs="?", const="latest", metavar="RUN_FOLDER",
        help="continue an interrupted run: the newest one, or the folder given")
    add("--run", metavar="RUN_FOLDER",
        help="the run that --train False loads (default: the newest with a checkpoint)")
    add("--epochs", type=positive(int), default=epochs, help="passes over the training images")
    add("--batch_size", type=positive(int), default=100, help="images per iteration")
    add("--learning_rate", type=positive(float), default=0.001, help="Adam's learning rate")
    add("--beta1", type=beta, default=beta1, help="Adam's beta1")
    add("--z_dim", type=code_size(min_z_dim), default=z_dim, help="size of the latent code z")
    add("--hidden_units", type=positive(int), default=1000,
        help="units in each hidden layer of every network (the original's 1000); fewer train "
             "faster, for a first try or a test, and draw worse")
    add("--seed", type=seed, default=0, help="seed of every random choice: same seed, same run")
    add("--max_steps", type=positive(int), default=None,
        help="stop after this many iterations in all (for smoke runs and tests)")
    add("--data_dir", default="Data", help="folder holding the four MNIST .gz files")
    add("--results_dir", default="Results", help="folder that receives the runs")
    add("--precision", choices=precision.CHOICES, default="float32",
        help="bfloat16: matrix products in bfloat16 where the hardware has it (see common/precision.py)")
    add("--verbose", action="store_true",
        help="also print TensorFlow's start-up log (its oneDNN and CUDA notices)")
    return parser


# Flags that say what to do with a run, not how its model is built: a loaded run's saved values
# of these never replace the ones given now.
RUN_CONTROL = ("train", "resume", "run", "max_steps", "data_dir", "results_dir", "verbose", "given")


_parsed_by = None  # the parser of the flags given now, whose checks a loaded run's flags must pass


def parse(parser, argv=None):
    global _parsed_by
    argv = sys.argv[1:] if argv is None else argv
    _parsed_by = parser
    args = parser.parse_args(argv)
    # Which flags the user typed, as opposed to defaults: a loaded run's own flags win over defaults.
    args.given = sorted({a[2:].split("=")[0] for a in argv if a.startswith("--")})
    if args.resume and not args.train:
        parser.error("--resume continues training; it cannot go with --train False")
    return args


def check_saved(key, value):
    """A flag's value read from a run's run.json, put through the same checks as the command
    line's; returns it as the parser would, or raises ValueError saying what is wrong."""
    action = next((a for a in getattr(_parsed_by, "_actions", ()) if a.dest == key), None)
    if action is None or value is None:
        return value
    if isinstance(value, list) != (action.nargs in ("*", "+")):
        raise ValueError("not a value of this flag")
    values = [value] if not isinstance(value, list) else value
    checked = []
    for v in values:
        if isinstance(v, (dict, list)):
            raise ValueError("not a value of this flag")
        try:
            v = action.type(str(v)) if action.type else v
        except (argparse.ArgumentTypeError, ValueError, TypeError) as e:
            raise ValueError(str(e)) from None
        if action.choices is not None and v not in action.choices:
            raise ValueError(f"not one of {', '.join(map(str, action.choices))}")
        checked.append(v)
    return checked if isinstance(value, list) else checked[0]
