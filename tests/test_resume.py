"""Interrupt a run, resume it, and get exactly the run that was never interrupted; --resume takes
the right run or says why not, and never touches a finished or busy one."""
import glob
import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest

import common
from common import flags, runs
from conftest import ROOT, SMALL, make_run, read_log, run_folders, run_in_process, script_env

SCRIPTS = {"autoencoder.py": "Autoencoder", "adversarial_autoencoder.py": "Adversarial_Autoencoder",
           "supervised_aae.py": "Supervised", "semi_supervised_aae.py": "Semi_Supervised"}
# A short run that crosses an epoch boundary (220 iterations at batch 250), so the resumed
# part starts from a mid-epoch data order and a reshuffle.
SHORT = ("--batch_size", "250", "--max_steps", "260", "--seed", "5", *SMALL)
# Parts 2-4 keep their data order with the same code (common/mnist.py), which SHORT checks across
# an epoch's end in part 1; what they add are random streams of their own (prior samples, input
# noise, turns and shifts, part 4's labelled batches, which end an epoch every 4 iterations), and
# for those a fifth of the work is enough.
BRIEF = ("--batch_size", "100", "--max_steps", "150", "--seed", "5", *SMALL)


def final_weights(run, step=260):
    reader = tf_reader(glob.glob(os.path.join(run, "Saved_models", f"*-{step}.index"))[0][:-len(".index")])
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def tf_reader(prefix):
    import tensorflow as tf
    return tf.train.load_checkpoint(prefix)


def interrupt_at(script, results, step, sig, *more, run_flags=SHORT):
    """Start a real training run (run_flags and `more`) and send it `sig` once its log reaches `step`."""
    cmd = [sys.executable, os.path.join(ROOT, script), "--train", "True", *run_flags, *more,
           "--results_dir", str(results)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=script_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        logs = glob.glob(os.path.join(str(results), "*", "*", "log", "log.txt"))
        if logs and f"step {step}:" in open(logs[0]).read():
            break
        time.sleep(0.1)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.mark.parametrize("script, run_flags, stop, last", [
    ("autoencoder.py", SHORT, 100, 260), ("adversarial_autoencoder.py", BRIEF, 50, 150),
    ("supervised_aae.py", BRIEF, 50, 150), ("semi_supervised_aae.py", BRIEF, 50, 150)])
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(script, run_flags, stop, last,
                                                                  tmp_path, mnist_dir):
    model = SCRIPTS[script]
    run_in_process(script, "--train", "True", *run_flags, results_dir=tmp_path / "straight")
    code, out, err = interrupt_at(script, tmp_path / "stopped", stop, signal.SIGTERM, run_flags=run_flags)
    [run] = run_folders(tmp_path / "stopped", model)
    assert code == 128 + signal.SIGTERM, err
    assert f"--resume {run}" in out and "Traceback" not in err
    proc = run_in_process(script, "--train", "True", "--resume", *run_flags, results_dir=tmp_path / "stopped")
    assert f"Resuming {run}" in proc.stdout
    straight = final_weights(run_folders(tmp_path / "straight", model)[0], last)
    resumed = final_weights(run, last)
    assert straight.keys() == resumed.keys() and any("Adam" in k for k in straight)
    # bit-identical on CPU: same data order, same prior samples, same Adam state
    for name in straight:
        np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)
    log = read_log(run)
    assert log.count(f"step {stop + 50}:") == 1 and "Interrupted at step" in log


def test_ctrl_c_saves_and_resume_finds_the_newest_run(tmp_path, mnist_dir):
    code, out, err = interrupt_at("autoencoder.py", tmp_path, 50, signal.SIGINT)
    assert code == 128 + signal.SIGINT and "Traceback" not in err
    [run] = run_folders(tmp_path, "Autoencoder")
    step = int(out.split("Interrupted at step ")[1].split()[0])
    assert os.path.exists(os.path.join(run, "Saved_models", f"autoencoder-{step}.index"))
    proc = run_in_process("autoencoder.py", "--train", "True", "--resume", "--max_steps", str(step + 5),
                          results_dir=tmp_path)
    assert f"Resuming {run}" in proc.stdout
    assert os.path.exists(os.path.join(run, "Saved_models", f"autoencoder-{step + 5}.index"))


def test_resume_after_a_hard_crash_shows_each_step_once_in_tensorboard(tmp_path, mnist_dir):
    from conftest import event_tags
    run_in_process("autoencoder.py", "--train", "True", *SHORT, results_dir=tmp_path)
    [run] = run_folders(tmp_path, "Autoencoder")
    # As if the process had died after logging steps 220-259 but before saving step 260:
    # the events of steps 250 are on disk, the newest checkpoint is that of step 220.
    for path in glob.glob(os.path.join(run, "Saved_models", "autoencoder-260*")):
        os.remove(path)
    with open(os.path.join(run, "Saved_models", "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "autoencoder-220"\nall_model_checkpoint_paths: "autoencoder-220"\n')
    proc = run_in_process("autoencoder.py", "--train", "True", "--resume", *SHORT, results_dir=tmp_path)
    assert f"Resuming {run}" in proc.stdout
    _, acc = event_tags(run)
    assert [e.step for e in acc.Scalars("Loss/reconstruction")] == [0, 50, 100, 150, 200, 250]
    assert [e.step for e in acc.Scalars("Test/reconstruction_mse")] == [220]


def files_of(run):
    """{path: (mode, bytes)} of every file in a run folder."""
    found = {}
    for folder, _, names in os.walk(run):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[path] = (os.stat(path).st_mode, f.read())
    return found


def test_resuming_a_finished_run_is_refused_and_writes_nothing(tmp_path, mnist_dir):
    short = ("--batch_size", "250", "--max_steps", "3", *SMALL)
    run_in_process("autoencoder.py", "--train", "True", *short, results_dir=tmp_path)
    [run] = run_folders(tmp_path, "Autoencoder")
    before = files_of(run)
    proc = run_in_process("autoencoder.py", "--train", "True", "--resume", *short,
                          results_dir=tmp_path, check=False)
    assert proc.returncode == 1 and proc.stderr == (
        f"error: {run} already finished at step 3; raise --epochs (or --max_steps) to train it "
        "further.\n")
    assert files_of(run) == before


def test_a_plain_resume_takes_the_newest_run_or_none(tmp_path):
    import autoencoder
    make_run(tmp_path, "Autoencoder", "2026-01-01_00-00-00_old", checkpoint_step=30, finished=True)
    # the newest run was killed (SIGKILL) before its first checkpoint
    killed = make_run(tmp_path, "Autoencoder", "2026-01-02_00-00-00_killed")
    args = flags.parse(autoencoder.arg_parser(), ["--resume", "--results_dir", str(tmp_path)])
    with pytest.raises(common.UserError, match=f"the newest run, {killed}, has no checkpoint"):
        runs.to_resume(args, "Autoencoder")


def test_a_second_trainer_of_a_held_run_is_refused(tmp_path, monkeypatch):
    import autoencoder
    path = make_run(tmp_path, "Autoencoder", "2026-01-01_00-00-00_run", checkpoint_step=30)
    monkeypatch.setattr(runs.Run, "active", None)
    args = flags.parse(autoencoder.arg_parser(), ["--resume", path, "--results_dir", str(tmp_path)])
    train = types.SimpleNamespace(batch_flag="batch_size", num_examples=55000,
                                  check_batch_size=lambda n: None)
    first = runs.start(args, "Autoencoder", runs.to_resume(args, "Autoencoder"), train)
    with pytest.raises(common.UserError, match="is being trained by another process"):
        runs.start(args, "Autoencoder", runs.to_resume(args, "Autoencoder"), train)
    assert read_log(path).count("Resuming") == 1
    first._lock.close()  # as when the first process ends: the run is free again
    runs.start(args, "Autoencoder", runs.to_resume(args, "Autoencoder"), train)
