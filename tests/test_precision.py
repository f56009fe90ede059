"""--precision: float32 by default; bfloat16 products where the CPU multiplies bfloat16, said in
one line and run in float32 where it does not; exact resumes within a precision."""
import signal

import numpy as np
import pytest

from common import precision
from conftest import SMALL, read_metrics, run_folders, run_in_process
from test_resume import BRIEF, final_weights, interrupt_at

BFLOAT16 = precision.cpu_has_bfloat16() or precision.has_gpu()
needs_bfloat16 = pytest.mark.skipif(not BFLOAT16, reason="no bfloat16 arithmetic on this machine")


def metrics_of(results, model="Autoencoder"):
    [run] = run_folders(results, model)
    return read_metrics(run)


def test_without_bfloat16_hardware_a_run_says_so_and_stays_float32(capsys, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bfloat16", lambda: False)
    monkeypatch.setattr(precision, "has_gpu", lambda: False)
    config = precision.session_config("bfloat16")
    assert not config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16
    assert capsys.readouterr().err == ("--precision bfloat16: this CPU has no bfloat16 arithmetic "
                                       "(AVX512_BF16 or AMX); running in float32.\n")
    assert precision.effective("bfloat16") == "float32"


def test_float32_sessions_are_left_as_tensorflow_makes_them():
    assert precision.session_config("float32") == precision.tf.ConfigProto()


@pytest.fixture(scope="module")
def both(tmp_path_factory, mnist_dir):
    """The same 60 iterations of part 1 in float32 and in bfloat16."""
    results = {}
    for name in precision.CHOICES:
        results[name] = tmp_path_factory.mktemp(name)
        run_in_process("autoencoder.py", "--train", "True", "--max_steps", "60", "--seed", "2", *SMALL,
                       "--precision", name, results_dir=results[name])
    return results


def test_each_run_records_the_precision_it_got(both):
    assert metrics_of(both["float32"])["precision"] == "float32"
    assert metrics_of(both["bfloat16"])["precision"] == ("bfloat16" if BFLOAT16 else "float32")


@needs_bfloat16
def test_bfloat16_changes_the_arithmetic_but_not_what_is_learned(both):
    float32, bfloat16 = (metrics_of(both[name])["test_reconstruction_mse"] for name in precision.CHOICES)
    assert float32 != bfloat16  # the rewrite did happen
    assert bfloat16 == pytest.approx(float32, rel=0.05)


def test_a_run_cannot_be_resumed_in_another_precision(both):
    proc = run_in_process("autoencoder.py", "--train", "True", "--resume", "--precision", "bfloat16",
                          results_dir=both["float32"], check=False)
    assert proc.returncode == 1 and "was trained with --precision float32, not bfloat16" in proc.stderr


@needs_bfloat16
def test_an_interrupted_bfloat16_run_resumes_exactly(tmp_path, mnist_dir):
    bfloat16 = ("--precision", "bfloat16")
    # What bfloat16 adds is its rewritten graph, not a data order: a brief run shows it resumes.
    run_in_process("autoencoder.py", "--train", "True", *BRIEF, *bfloat16, results_dir=tmp_path / "straight")
    code, out, err = interrupt_at("autoencoder.py", tmp_path / "stopped", 50, signal.SIGTERM, *bfloat16,
                                  run_flags=BRIEF)
    assert code == 128 + signal.SIGTERM, err
    run_in_process("autoencoder.py", "--train", "True", "--resume", *BRIEF, results_dir=tmp_path / "stopped")
    straight = final_weights(run_folders(tmp_path / "straight", "Autoencoder")[0], 150)
    resumed = final_weights(run_folders(tmp_path / "stopped", "Autoencoder")[0], 150)
    for name in straight:
        np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)
