"""Checkpoints that travel with their run folder, and damaged ones that are named, not fatal."""
import glob
import importlib
import json
import os
import shutil

import numpy as np
import pytest

import common
from common import flags, runs
from conftest import SMALL, run_folders, run_in_process

# 230 iterations at batch 250: checkpoints at the end of the first epoch (220) and at the end (230).
SHORT = ("--batch_size", "250", "--max_steps", "230", "--seed", "4", *SMALL)
MODEL = "Autoencoder"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir):
    """A part 1 run with two checkpoints, steps 220 and 230; tests work on copies of it."""
    results = tmp_path_factory.mktemp("original")
    run_in_process("autoencoder.py", "--train", "True", *SHORT, results_dir=results)
    [run] = run_folders(results, MODEL)
    return run


def copy_of(run, tmp_path, name="Results"):
    """A copy of the run in a results folder of its own: (results folder, run folder)."""
    results = tmp_path / name
    copied = results / MODEL / os.path.basename(run)
    shutil.copytree(run, copied)
    return results, str(copied)


def saved_files(run, step):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(run, "Saved_models", f"*-{step}.*")))


def test_the_checkpoint_index_names_files_relative_to_its_folder(trained):
    text = open(os.path.join(trained, "Saved_models", "checkpoint")).read()
    assert 'model_checkpoint_path: "autoencoder-230"' in text
    assert 'all_model_checkpoint_paths: "autoencoder-220"' in text
    assert os.sep not in text.replace('"autoencoder-', "")  # no folder anywhere
    assert saved_files(trained, 230) == ["autoencoder-230.data-00000-of-00001", "autoencoder-230.index",
                                         "autoencoder-230.state.json"]


def test_a_moved_run_loads_and_resumes_from_its_own_files(trained, tmp_path):
    results, run = copy_of(trained, tmp_path, "first_place")
    moved_results = tmp_path / "somewhere_else"
    shutil.move(str(results), str(moved_results))
    moved = str(moved_results / MODEL / os.path.basename(run))
    # As the runs of earlier versions did: TensorFlow's index names the files by absolute paths
    # that, after the move, lead nowhere.
    with open(os.path.join(moved, "Saved_models", "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "{run}/Saved_models/autoencoder-230"\n'
                f'all_model_checkpoint_paths: "{run}/Saved_models/autoencoder-220"\n'
                f'all_model_checkpoint_paths: "{run}/Saved_models/autoencoder-230"\n')
    drawn = run_in_process("autoencoder.py", "--train", "False", "--run", moved, results_dir=moved_results)
    assert f"Loaded {moved} (step 230)" in drawn.stdout
    assert "Couldn't match files" not in drawn.stderr
    resumed = run_in_process("autoencoder.py", "--train", "True", "--resume", moved, "--max_steps", "240",
                             results_dir=moved_results)
    assert f"Resuming {moved}" in resumed.stdout
    assert saved_files(moved, 240) and saved_files(moved, 230) and not saved_files(moved, 220)


def test_a_copied_run_uses_the_copys_weights_not_the_originals(trained, tmp_path, mnist_dir):
    import autoencoder
    import tensorflow.compat.v1 as tf
    results, copy = copy_of(trained, tmp_path)
    # The copy's index still names the original's files by absolute path, as earlier versions
    # wrote it; and the copy's own weights are changed, so that the two can be told apart.
    with open(os.path.join(copy, "Saved_models", "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "{trained}/Saved_models/autoencoder-230"\n')
    args = flags.parse(autoencoder.arg_parser(), ["--seed", "4", *SMALL])
    g = autoencoder.build_graph(args)
    prefix = os.path.join(copy, "Saved_models", "autoencoder-230")
    with tf.Session() as sess:
        g.saver.restore(sess, prefix)
        [weights] = [v for v in tf.global_variables() if v.op.name == "Decoder/d_output/bias"]
        sess.run(weights.assign(np.full(784, 0.125, np.float32)))
        g.saver.save(sess, prefix)

    with tf.Session() as sess:
        assert runs.Run(copy, MODEL).restore(sess, g.saver) == 230
        np.testing.assert_array_equal(sess.run(weights), np.full(784, 0.125, np.float32))
        assert runs.Run(trained, MODEL).restore(sess, g.saver) == 230
        assert not np.all(sess.run(weights) == 0.125)  # the original is untouched


def truncate(path):
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])


@pytest.mark.parametrize("damaged", ["autoencoder-230.data-00000-of-00001", "autoencoder-230.index",
                                     "autoencoder-230.state.json"])
def test_a_damaged_checkpoint_is_named_and_the_previous_one_used(trained, tmp_path, damaged):
    results, run = copy_of(trained, tmp_path)
    path = os.path.join(run, "Saved_models", damaged)
    truncate(path)

    def warnings(proc):
        assert "Traceback" not in proc.stderr
        return [line for line in proc.stderr.splitlines() if "damaged" in line]

    drawn = run_in_process("autoencoder.py", "--train", "False", "--run", run, results_dir=results)
    if damaged.endswith(".state.json"):  # drawing needs the weights alone, not the random state
        assert f"Loaded {run} (step 230)" in drawn.stdout and not warnings(drawn)
    else:
        [warning] = warnings(drawn)
        assert warning.startswith(f"warning: {path} is damaged")
        assert f"Loaded {run} (step 220)" in drawn.stdout

    resumed = run_in_process("autoencoder.py", "--train", "True", "--resume", run, "--max_steps", "225",
                             results_dir=results)
    [warning] = warnings(resumed)
    assert warning.startswith(f"warning: {path} is damaged")
    assert "Using the checkpoint of step 220 instead." in resumed.stderr
    # continued from 220; the damaged 230 belonged to the future the resume replaced
    assert saved_files(run, 225) and saved_files(run, 220) and not saved_files(run, 230)


def test_with_no_good_checkpoint_left_one_clear_error(trained, tmp_path):
    results, run = copy_of(trained, tmp_path)
    truncate(os.path.join(run, "Saved_models", "autoencoder-230.data-00000-of-00001"))
    truncate(os.path.join(run, "Saved_models", "autoencoder-220.index"))
    drawn = run_in_process("autoencoder.py", "--train", "False", "--run", run, results_dir=results,
                           check=False)
    assert drawn.returncode == 1 and "Traceback" not in drawn.stderr
    error = drawn.stderr.splitlines()[-1]
    assert error.startswith(f"error: no usable checkpoint in {run}/Saved_models: ")
    assert "autoencoder-230.data-00000-of-00001 is damaged" in error
    assert "autoencoder-220.index is damaged" in error


def warning_of_a_run_older_than(missing, script, tmp_path, capsys, parser=None):
    """What adopt_args() prints for a run of `script` whose run.json lacks the flags in `missing`
    (parsed by `parser`, if given, instead of the script's own)."""
    module = importlib.import_module(script)
    model = module.MODEL
    args = flags.parse(parser or module.arg_parser(), ["--results_dir", str(tmp_path)])
    old = {k: v for k, v in vars(args).items() if k not in missing}
    path = tmp_path / model / "old_run"
    os.makedirs(path)
    (path / "run.json").write_text(json.dumps({"model": model, "args": old}))
    runs.Run(str(path), model).adopt_args(args)
    return capsys.readouterr().err


def test_a_run_older_than_a_flag_says_which_values_it_assumes(tmp_path, capsys):
    warning = warning_of_a_run_older_than(("prior_std", "pair_discriminator"), "supervised_aae",
                                          tmp_path, capsys)
    assert ("does not record --prior_std, --pair_discriminator; assuming --prior_std 1.0 "
            "--pair_discriminator True") in warning


def test_an_unrecorded_flag_whose_default_depends_on_others_is_not_called_none(tmp_path, capsys):
    import semi_supervised_aae
    parser = semi_supervised_aae.arg_parser()
    parser.add_argument("--settled_later", default=None)  # as check_flags() might settle it
    warning = warning_of_a_run_older_than(("rotate", "settled_later"), "semi_supervised_aae",
                                          tmp_path, capsys, parser)
    assert ("does not record --rotate, --settled_later; assuming --rotate 10.0 --settled_later "
            "(today's default for the other flags)") in warning
    assert "None" not in warning


def test_the_newest_run_without_its_run_json_is_named_not_a_traceback(tmp_path):
    saved = tmp_path / "Autoencoder" / "2026-01-01_00-00-00_run" / "Saved_models"
    os.makedirs(saved)
    (saved / "autoencoder-1.index").write_bytes(b"")
    import autoencoder
    args = flags.parse(autoencoder.arg_parser(), ["--results_dir", str(tmp_path)])
    with pytest.raises(common.UserError, match="is not a run of Autoencoder"):
        runs.Run.find(args, "Autoencoder")
