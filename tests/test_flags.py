"""The flags every script shares, and their refusals."""
import re

import pytest

from common import flags
from conftest import run_in_process


def parse(*argv):
    return flags.parse(flags.arg_parser("Test.", z_dim=2), list(argv))


@pytest.mark.parametrize("text, value", [("True", True), ("true", True), ("TRUE", True), ("1", True),
                                         ("yes", True), ("False", False), ("false", False),
                                         ("0", False), ("No", False)])
def test_train_accepts_true_and_false_spellings(text, value):
    assert parse("--train", text).train is value


def test_a_boolean_flag_alone_means_true():
    assert parse("--train").train is True
    assert parse("--train", "--epochs", "3").train is True  # the next flag is not taken as its value
    assert parse("--train", "False").train is False


def test_script_boolean_flags_alone_mean_true():
    import supervised_aae
    parser = supervised_aae.arg_parser()
    assert flags.parse(parser, ["--pair_discriminator"]).pair_discriminator is True
    assert flags.parse(parser, ["--pair_discriminator", "False"]).pair_discriminator is False


def test_defaults_are_the_originals():
    args = parse()
    assert (args.train, args.epochs, args.batch_size, args.learning_rate, args.beta1, args.z_dim) == \
        (True, 1000, 100, 0.001, 0.9, 2)
    assert args.given == []
    assert parse("--z_dim=5", "--seed", "3").given == ["seed", "z_dim"]


@pytest.mark.parametrize("argv, complaint", [
    (["--train", "maybe"], "expected True or False, got 'maybe'"),
    (["--epochs", "-1"], "must be a positive number"),
    (["--batch_size", "0"], "must be a positive number"),
    (["--learning_rate", "nan"], "must be a positive number"),
    (["--beta1", "1.5"], "must be in [0, 1)"),
    (["--train", "False", "--resume"], "--resume continues training"),
])
def test_bad_values_are_usage_errors(argv, complaint, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(*argv)
    assert exit_.value.code == 2
    assert complaint in capsys.readouterr().err


def stated_defaults(help_text):
    """{flag: the text of its "(default: ...)"} for each option a --help lists, wrapped lines joined."""
    options = help_text.split("options:", 1)[1]
    blocks = re.split(r"\n(?=  -)", options.strip("\n"))
    stated = {}
    for block in blocks:
        text = " ".join(block.split())
        flag = text.split()[0].rstrip(",")
        match = re.search(r"\(default: ([^()]*)\)$", text)
        stated[flag] = match.group(1) if match else None
    return stated


def parser_defaults(parser):
    return {a.option_strings[-1]: a.default for a in parser._actions if a.dest != "help"}


# The original's defaults, shared by every lesson (part 1's, as `autoencoder.py --help` states them).
ORIGINAL_DEFAULTS = {"--train": "True", "--resume": "None", "--run": "None", "--epochs": "1000",
                     "--batch_size": "100", "--learning_rate": "0.001", "--beta1": "0.9",
                     "--z_dim": "2", "--hidden_units": "1000", "--seed": "0", "--max_steps": "None", "--data_dir": "Data",
                     "--results_dir": "Results", "--precision": "float32", "--verbose": "False"}


def test_help_documents_each_flag_with_its_default(tmp_path):
    import autoencoder
    out = run_in_process("autoencoder.py", "--help", results_dir=tmp_path).stdout
    stated = stated_defaults(out)
    assert stated.pop("-h") is None
    assert stated == ORIGINAL_DEFAULTS
    parsed = vars(flags.parse(autoencoder.arg_parser(), []))
    assert {flag: str(parsed[flag[2:]]) for flag in stated} == stated


@pytest.mark.parametrize("script", ["autoencoder", "adversarial_autoencoder", "supervised_aae",
                                    "semi_supervised_aae", "adversarial_autoencoder_priors",
                                    "adversarial_autoencoder_likelihood",
                                    "semi_supervised_aae_clustering"])  # labels_only: part 4's
def test_every_scripts_help_states_the_defaults_its_parser_gives(script):
    parser = __import__(script).arg_parser()
    stated = stated_defaults(parser.format_help())
    assert stated.pop("-h") is None
    parsed = vars(parser.parse_args([]))
    assert stated.keys() == parser_defaults(parser).keys()
    assert {flag: str(parsed[flag[2:]]) for flag in stated} == stated


def test_script_refuses_train_maybe(tmp_path):
    proc = run_in_process("autoencoder.py", "--train", "maybe", results_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "usage:" in proc.stderr and "'maybe'" in proc.stderr


@pytest.mark.parametrize("script, argv, complaint", [
    ("autoencoder", ["--z_dim", "1"], "must be from 2 to 784"),  # the figures draw a plane
    ("adversarial_autoencoder", ["--z_dim", "1"], "must be from 2 to 784"),
    ("supervised_aae", ["--z_dim", "785"], "must be from 1 to 784"),
    ("semi_supervised_aae", ["--z_dim", "0"], "must be from 1 to 784"),
    ("autoencoder", ["--seed", "-1"], "must be from 0 to 2147483647"),  # numpy refuses it
    ("supervised_aae", ["--seed", "4294967295"], "must be from 0 to 2147483647"),
    ("semi_supervised_aae", ["--rotate", "1e308"], "must be from 0 to 180"),  # numpy overflows
])
def test_every_numeric_flag_is_checked_when_the_flags_are_read(script, argv, complaint, capsys):
    module = __import__(script)
    with pytest.raises(SystemExit) as exit_:
        flags.parse(module.arg_parser(), argv)
    assert exit_.value.code == 2 and complaint in capsys.readouterr().err
