"""Every bad input gets one clear error, and nothing is lost on a full disk, a diverged run or an
unwritable path (for every lesson script)."""
import glob
import os
import shutil
import signal
import subprocess
import sys
import types

import pytest

import common
from common import flags, mnist, runs
from conftest import ROOT, SMALL, make_run, run_folders, run_in_process, run_script, script_env

SCRIPTS = {"autoencoder.py": "Autoencoder", "adversarial_autoencoder.py": "Adversarial_Autoencoder",
           "supervised_aae.py": "Supervised", "semi_supervised_aae.py": "Semi_Supervised"}


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, mnist_dir):
    import autoencoder
    import tensorflow.compat.v1 as tf
    args = flags.parse(autoencoder_parser(), ["--results_dir", str(tmp_path), "--seed", "0", *SMALL])
    run = runs.start(args, "Autoencoder", None)
    g = autoencoder.build_graph(args)
    data = mnist.load(mnist_dir, 0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        run.save(sess, g.saver, 1, train=data.train)
        # The next save cannot take its file name (a folder is in the way, as a full disk or a
        # crash mid-write would leave things): it must fail loudly and leave step 1 loadable.
        os.mkdir(os.path.join(run.saved_models, "autoencoder-2.index"))
        with pytest.raises(common.UserError, match="could not save the checkpoint of step 2.*previous checkpoint is kept"):
            run.save(sess, g.saver, 2, train=data.train)
        assert tf.train.latest_checkpoint(run.saved_models).endswith("autoencoder-1")
        assert run.restore(sess, g.saver, train=data.train) == 1


def autoencoder_parser():
    import autoencoder
    return autoencoder.arg_parser()


def test_divergence_stops_with_the_step_and_no_traceback(tmp_path, mnist_dir):
    proc = run_in_process("autoencoder.py", "--train", "True", "--max_steps", "100", *SMALL,
                          "--learning_rate", "1e30", results_dir=tmp_path, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    # step 0's update leaves the weights non-finite; step 1's loss, taken before its own
    # update, is the first to show it
    assert "training diverged at step 1: reconstruction = nan" in proc.stderr


def test_a_nan_that_a_summary_meets_first_is_reported_as_divergence(tmp_path, monkeypatch):
    """A histogram summary refuses NaN with an error of its own, before any loss is checked (a
    NaN left by the last phase of an iteration, read by the summaries that follow it): main()
    reports it as the divergence it is, at the run's current step."""
    import tensorflow.compat.v1 as tf
    run = runs.Run(str(tmp_path), "Autoencoder")
    os.makedirs(run.saved_models)
    os.makedirs(os.path.dirname(run.log_file))
    run.step = 50
    monkeypatch.setattr(runs.Run, "active", run)

    def train(args):  # what Session.run raises there
        raise tf.errors.InvalidArgumentError(
            None, None, "Nan in summary histogram for: Distributions/encoder_z")

    monkeypatch.setattr(sys, "argv", ["autoencoder.py", "--train", "True"])
    with pytest.raises(SystemExit) as stopped:
        common.main(flags.arg_parser("A lesson.", z_dim=2), train, draw=None)
    assert str(stopped.value).startswith("error: training diverged at step 50: weights = nan")


def test_divergence_names_the_last_good_checkpoint(tmp_path):
    run = runs.Run(str(tmp_path), "Autoencoder")
    os.makedirs(run.saved_models)
    os.makedirs(os.path.dirname(run.log_file))
    with open(os.path.join(run.saved_models, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "autoencoder-550"\n')
    open(os.path.join(run.saved_models, "autoencoder-550.index"), "w").close()
    with pytest.raises(common.UserError, match="diverged at step 612: reconstruction = inf.*autoencoder-550"):
        run.check_finite(612, reconstruction=float("inf"))
    run.check_finite(613, reconstruction=0.5)  # finite losses pass


@pytest.mark.parametrize("argv, message", [
    (["--train", "False", "--run", "/nonexistent/run"], "run folder /nonexistent/run does not exist"),
    (["--train", "True", "--resume"], "no runs in"),
    (["--train", "True", "--epochs", "-1"], "must be a positive number"),
    (["--train", "True", "--batch_size", "0"], "must be a positive number"),
    (["--train", "True", "--learning_rate", "nan"], "must be a positive number"),
])
def test_bad_input_gets_one_message(argv, message, tmp_path):
    code, err = refusal("autoencoder.py", argv, tmp_path)
    assert code != 0 and message in err and "Traceback" not in err


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("argv, message", [
    (["--train", "False"], "Train first"),
    (["--train", "True", "--batch_size", "0"], "must be a positive number"),
])
def test_every_script_refuses_bad_input_in_one_line(script, argv, message, tmp_path):
    code, err = refusal(script, argv, tmp_path)
    assert code != 0 and message in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--n_labels", "15"], "--n_labels must be a positive multiple of 10"),
    (["--n_labels", "60000"], "--n_labels must be a positive multiple of 10"),
    (["--input_noise", "-1"], "must be 0 or more"),
    (["--adversarial_learning_rate", "0"], "must be a positive number"),
])
def test_part_4_refuses_bad_label_counts_noise_and_rates(argv, message, tmp_path, mnist_dir):
    code, err = refusal("semi_supervised_aae.py", ["--train", "True", *argv], tmp_path)
    assert code != 0 and message in err and "Traceback" not in err


def test_runs_that_cannot_be_loaded_are_refused(tmp_path, mnist_dir):
    run_in_process("autoencoder.py", "--train", "True", "--max_steps", "2", *SMALL, results_dir=tmp_path)
    [run] = run_folders(tmp_path, "Autoencoder")

    def draw(script, *argv):  # the refusals in this process: (exit code, stderr)
        return refusal(script, ["--train", "False", *argv], tmp_path)

    code, err = draw("autoencoder.py", "--z_dim", "5")
    assert code != 0 and "was trained with --z_dim 2, not 5" in err
    unsaved = os.path.join(str(tmp_path), "Autoencoder", "2000-01-01_00-00-00_unsaved")
    os.makedirs(os.path.join(unsaved, "Saved_models"))
    shutil.copy(os.path.join(run, "run.json"), unsaved)
    code, err = draw("autoencoder.py", "--run", unsaved)
    assert code != 0 and f"run {unsaved} has no checkpoint of Autoencoder: it was stopped before its first save" in err
    # a run's own flags win over defaults, so the z_dim 2 run still loads without flags
    assert "Loaded" in run_in_process("autoencoder.py", "--train", "False", results_dir=tmp_path).stdout
    # a run.json edited to another code size: the checkpoint's shapes give it away
    edited = os.path.join(str(tmp_path), "Autoencoder", "2000-01-02_00-00-00_edited")
    shutil.copytree(run, edited, copy_function=os.link)  # run.json is replaced, not written into
    edited_flags = os.path.join(edited, "run.json")
    runs.write_atomically(edited_flags, open(edited_flags).read().replace('"z_dim": 2', '"z_dim": 3'))
    code, err = draw("autoencoder.py", "--run", edited)
    assert code != 0 and "Traceback" not in err and "does not fit this model" in err
    assert "weights is [128, 2] in the checkpoint, [128, 3] in this model" in err
    # another script's checkpoint, even under a forged run.json, is refused by its variables
    forged = os.path.join(str(tmp_path), "Semi_Supervised", "2000-01-01_00-00-00_forged")
    shutil.copytree(run, forged, copy_function=os.link)
    runs.write_atomically(os.path.join(forged, "run.json"),
                          open(os.path.join(run, "run.json")).read().replace("Autoencoder", "Semi_Supervised"))
    code, err = draw("semi_supervised_aae.py", "--run", forged)
    assert code != 0 and "Traceback" not in err
    assert f"run {forged} has no checkpoint of Semi_Supervised: its Saved_models/ holds autoencoder-2.index" in err
    for path in glob.glob(os.path.join(forged, "Saved_models", "autoencoder-2.*")):  # forged names too
        os.rename(path, path.replace("autoencoder-2", "semi_supervised-2"))
    code, err = draw("semi_supervised_aae.py", "--run", forged)
    assert code != 0 and "does not fit this model" in err and "Traceback" not in err
    os.remove(os.path.join(run, "run.json"))
    code, err = draw("autoencoder.py", "--run", run)
    assert code != 0 and "is not a run of Autoencoder" in err


def test_unwritable_results_folder_is_reported_before_training(tmp_path, mnist_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run_in_process("autoencoder.py", "--train", "True", "--max_steps", "2",
                          results_dir=blocker / "Results", check=False)
    assert proc.returncode != 0 and "cannot write to" in proc.stderr and "Traceback" not in proc.stderr


def test_too_little_disk_space_is_reported_before_training(tmp_path, mnist_dir, monkeypatch):
    import autoencoder
    import tensorflow.compat.v1 as tf
    args = flags.parse(autoencoder_parser(), ["--results_dir", str(tmp_path)])
    run = runs.start(args, "Autoencoder", None)
    autoencoder.build_graph(args)
    # weights and two Adam slots of 3.6 million parameters: 43 MB a checkpoint, three must fit
    monkeypatch.setattr(shutil, "disk_usage", lambda path: types.SimpleNamespace(free=10**8))
    with pytest.raises(common.UserError, match=r"not enough disk space .*: 100 MB free, 129 MB needed"):
        next(run.steps(0, args, 550))
    assert tf.train.latest_checkpoint(run.saved_models) is None


def test_a_full_disk_at_save_time_stops_with_one_message(tmp_path, mnist_dir):
    """The checkpoint outgrows the space left (a file-size limit stands in for a full disk)."""
    import resource

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (5 * 2**20, 5 * 2**20))

    cmd = [sys.executable, os.path.join(ROOT, "autoencoder.py"), "--train", "True", "--max_steps", "3",
           "--results_dir", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=script_env(), capture_output=True, text=True,
                          timeout=300, preexec_fn=limit_file_size)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "could not save the checkpoint of step 3" in proc.stderr
    assert "The previous checkpoint is kept" in proc.stderr


@pytest.mark.parametrize("script, argv, message", [
    ("autoencoder.py", ["--batch_size", "100000"],
     "--batch_size 100000 is larger than the 55000 training images: choose at most 55000."),
    ("adversarial_autoencoder.py", ["--batch_size", "55001"],
     "--batch_size 55001 is larger than the 55000 training images: choose at most 55000."),
    ("supervised_aae.py", ["--batch_size", "100000"],
     "--batch_size 100000 is larger than the 55000 training images: choose at most 55000."),
    ("semi_supervised_aae.py", ["--batch_size", "54500"],
     "--batch_size 54500 is larger than the 54000 unlabelled training images: choose at most 54000."),
    ("semi_supervised_aae.py", ["--labelled_batch_size", "300", "--n_labels", "200"],
     "--labelled_batch_size 300 is more than the 200 labelled images (--n_labels)."),
])
def test_a_batch_larger_than_the_data_is_refused_in_one_line(script, argv, message, tmp_path, mnist_dir):
    if script == "autoencoder.py":  # once as the user meets it: the whole of stderr, the exit code
        proc = run_script(script, "--train", "True", *argv, results_dir=tmp_path, check=False)
        assert proc.returncode == 1 and proc.stderr == f"error: {message}\n"
    else:
        assert refusal(script, ["--train", "True", *argv], tmp_path) == (1, f"error: {message}\n")
    assert not os.path.exists(tmp_path / SCRIPTS[script])  # no empty run folder


def test_tensorflows_start_up_log_is_kept_out_of_the_way_unless_asked_for(tmp_path):
    quiet = run_script("autoencoder.py", "--train", "False", results_dir=tmp_path, check=False)
    assert quiet.stderr.splitlines() == [f"error: no runs in {tmp_path}/Autoencoder. Train first: "
                                         "python autoencoder.py --train True"]
    verbose = run_script("autoencoder.py", "--train", "False", "--verbose", results_dir=tmp_path,
                         check=False)
    # What TensorFlow logged while this test process imported it, less time stamps and process ids.
    messages = [line.split("] ", 1)[-1] for line in common.TENSORFLOW_START_LOG.splitlines()]
    assert messages and all(message in verbose.stderr for message in messages)
    assert verbose.stderr.splitlines()[-1] == quiet.stderr.splitlines()[-1]


def test_only_the_import_is_quieted_later_errors_get_through():
    proc = subprocess.run([sys.executable, "-c", "import common, os; os.write(2, b'later\\n')"],
                          cwd=ROOT, env=script_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "later\n"


# -- issue 42: nothing lost, nothing silently wrong ---------------------------------------------

def test_part_4_checks_each_batch_size_against_its_own_images(tmp_path, data, monkeypatch):
    import semi_supervised_aae
    monkeypatch.setattr(runs.Run, "active", None)
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, 0)
    args = flags.parse(semi_supervised_aae.arg_parser(), [
        "--batch_size", "2000", "--labelled_batch_size", "100", "--results_dir", str(tmp_path)])
    runs.start(args, "Semi_Supervised", None, unlabelled, labelled)
    args.labelled_batch_size = 2000
    with pytest.raises(common.UserError, match="--labelled_batch_size 2000 is larger than the 1000 "
                                               "labelled training images"):
        runs.start(args, "Semi_Supervised", None, unlabelled, labelled)


def refusal(script, argv, tmp_path):
    """The script run in this process on argv and this test's folders: (exit code, stderr).
    --max_steps 1 keeps a missing refusal from training for long before it fails."""
    proc = run_in_process(script, *argv, "--max_steps", "1", results_dir=tmp_path, check=False)
    return proc.returncode, proc.stderr


def test_ctrl_c_while_the_judge_trains_leaves_no_run_folder(tmp_path, mnist_dir, monkeypatch):
    from common import judge

    def training_judge(data_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(judge, "load", training_judge)
    code, err = refusal("adversarial_autoencoder.py", ["--train", "True"], tmp_path)
    assert code == 130 and "Traceback" not in err
    assert err.strip() == "error: interrupted before training began; no run folder was kept."
    assert run_folders(tmp_path, "Adversarial_Autoencoder") == []


def test_a_start_refused_for_space_leaves_no_run_folder(tmp_path, mnist_dir, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: types.SimpleNamespace(free=10**6))
    code, err = refusal("autoencoder.py", ["--train", "True"], tmp_path)
    assert code != 0 and "not enough disk space" in err and "Traceback" not in err
    assert run_folders(tmp_path, "Autoencoder") == []


def test_a_disk_that_fills_during_a_save_keeps_the_checkpoint_and_leaves_no_part(tmp_path, mnist_dir):
    """A real failed write: the file-size limit makes the state file's write fail with EFBIG, as
    a full disk makes it fail with ENOSPC."""
    import resource
    import autoencoder
    import tensorflow.compat.v1 as tf
    args = flags.parse(autoencoder_parser(), ["--results_dir", str(tmp_path), *SMALL])
    run = runs.start(args, "Autoencoder", None)
    g = autoencoder.build_graph(args)
    data = mnist.load(mnist_dir, 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        run.save(sess, g.saver, 1, train=data.train)
        before = sorted(os.listdir(run.saved_models))
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**16, hard))
        try:
            with pytest.raises(common.UserError, match="could not save the checkpoint of step 2 .*"
                                                       "The previous checkpoint is kept"):
                run.save(sess, g.saver, 2, train=data.train)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, previous)
        assert sorted(os.listdir(run.saved_models)) == before
        assert run.restore(sess, g.saver, train=data.train) == 1


def test_the_checkpoints_a_resume_replaces_count_as_free_space(tmp_path, mnist_dir, monkeypatch):
    import autoencoder
    args = flags.parse(autoencoder_parser(), ["--results_dir", str(tmp_path)])
    run = runs.start(args, "Autoencoder", None)
    autoencoder.build_graph(args)
    for step in (220, 230):  # two checkpoints of 43 MB each (sparse files: no disk used)
        with open(os.path.join(run.saved_models, f"autoencoder-{step}.data-00000-of-00001"), "wb") as f:
            f.truncate(42921440)
    # 100 MB free: too little for three new checkpoints, but two of the three are there already
    monkeypatch.setattr(shutil, "disk_usage", lambda path: types.SimpleNamespace(free=10**8))
    run.check_space()


def test_losses_that_explode_without_reaching_inf_stop_the_run(tmp_path):
    run = runs.Run(str(tmp_path), "Semi_Supervised")
    os.makedirs(os.path.dirname(run.log_file))
    with pytest.raises(common.UserError, match="diverged at step 0: supervised = 16158340.0"):
        run.check_finite(0, reconstruction=0.23, supervised=16158340.0)
    run.check_finite(1, reconstruction=0.23, generator=9.5, supervised=2.3)  # a healthy start


def test_part_4_with_a_huge_learning_rate_stops_instead_of_reporting_success(tmp_path, mnist_dir):
    proc = run_in_process("semi_supervised_aae.py", "--train", "True", "--learning_rate", "1000",
                          "--max_steps", "3", *SMALL, results_dir=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "Done" not in proc.stdout
    assert "error: training diverged at step 0: supervised = " in proc.stderr


def test_an_unwritable_figure_or_data_folder_is_named_in_one_line(tmp_path):
    from common import figures
    blocked = tmp_path / "latent_grid.png"
    blocked.mkdir()  # root writes anywhere: a folder in the way stands in for a read-only one
    fig, _ = figures.pyplot().subplots()
    with pytest.raises(common.UserError, match=f"cannot write {blocked}: Is a directory"):
        figures.save(fig, str(blocked))
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(common.UserError, match=f"cannot download MNIST into {a_file}/Data: Not a directory"):
        mnist.ensure_files(str(a_file / "Data"), mirrors=["http://127.0.0.1:9/"])


def test_an_edited_run_json_gets_one_line_not_a_traceback(tmp_path):
    import autoencoder
    path = make_run(tmp_path, "Autoencoder", "2026-01-01_00-00-00_run", checkpoint_step=30)
    config = __import__("json").load(open(os.path.join(path, "run.json")))
    for edit, complaint in ((-3, "must be from 2 to 784"), ("two", "expected a number")):
        config["args"]["z_dim"] = edit
        runs.write_atomically(os.path.join(path, "run.json"), __import__("json").dumps(config))
        args = flags.parse(autoencoder.arg_parser(), ["--train", "False", "--results_dir", str(tmp_path)])
        with pytest.raises(common.UserError, match=f"run.json gives --z_dim .*{complaint}"):
            runs.Run.find(args, "Autoencoder").adopt_args(args)


def test_every_file_of_a_run_is_as_readable_as_the_rest(tmp_path):
    os.makedirs(tmp_path / "log")
    (tmp_path / "run.json").write_text("{}")
    runs.write_atomically(str(tmp_path / "metrics.json"), "{}")
    mode = lambda name: os.stat(tmp_path / name).st_mode & 0o777  # noqa: E731
    assert mode("metrics.json") == mode("run.json")
