"""The speed benchmark, bench/speed.py, in its smoke mode: it runs and reports, and speed keeps the maths.

No timing is checked: the figures depend on the machine and on whatever else it is doing.
"""
import glob
import json
import os
import re
import sys

import numpy as np
import pytest

from conftest import ROOT, SMALL

sys.path.insert(0, os.path.join(ROOT, "bench"))
import quality  # bench/ is not a package: found through the path above
import speed


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, mnist_dir):
    """One run of `bench/speed.py --quick`: both configurations, a few iterations of each script.

    The children leave their results in out_dir, among them the weights after the compared
    iterations, which the tests below read back.
    """
    out_dir = tmp_path_factory.mktemp("bench")
    return speed.benchmark(quick=True, data_dir=mnist_dir, out_dir=str(out_dir)), out_dir


def test_report_has_a_row_of_positive_figures_per_script(quick_run, capsys):
    results, _ = quick_run
    assert speed.report(results)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "kernels" in lines[0] and "Peak of a 1024-cube product, GFLOP/s: numpy" in lines[1]
    assert "CPU only: GPUs are hidden from every measurement (CUDA_VISIBLE_DEVICES=-1)." in lines
    # The tables, each a block of lines: a header, then a row per script.
    tables = [[line.split() for line in block.splitlines() if line.split()[:1] in
               [[name] for name in speed.SCRIPTS]] for block in out.split("\n\n")]
    tables = [rows for rows in tables if rows]
    from common import precision
    bfloat16 = precision.cpu_has_bfloat16()  # the bench's children see the CPU alone
    assert len(tables) == (5 if bfloat16 else 3)
    speed_rows, time_rows, adam_rows = tables[0], tables[2 if bfloat16 else 1], tables[-1]
    for speed_row, time_row in zip(speed_rows, time_rows):
        # name, eleven figures, "same maths"; name, then ms per iteration: total, traced, matmul,
        # (best), adam, (alone), cast, other, gaps, feed
        assert len(speed_row) == 13 and speed_row[-1] == "yes", speed_row
        assert all(float(x) > 0 for x in speed_row[1:-1]), speed_row
        assert len(time_row) == 11 and all(float(x) > 0 for x in time_row[1:5]), time_row
    for row in adam_rows:  # name, weights updated, ms alone, GB/s
        assert len(row) == 4 and all(float(x.replace(",", "")) > 0 for x in row[1:]), row
    if bfloat16:  # name, it/s, x float32, roofline it/s, achieved/roofline, achieved/products, s/epoch
        assert all(len(row) == 7 and all(float(x) > 0 for x in row[1:]) for row in tables[1])
        # where bfloat16's time goes: name, total, traced, matmul, (best), adam, cast, other,
        # gaps, feed
        for row in tables[3]:
            assert len(row) == 10 and all(float(x) > 0 for x in row[1:7]), row
    else:
        assert "--precision bfloat16: not measured, this CPU has no bfloat16 arithmetic." in lines
    assert "Epochs of real runs: not measured in --quick." in lines
    assert re.fullmatch(r"worst achieved/roofline = \d+\.\d\d, worst speed-up = \d+\.\d\d", lines[-1])


def test_the_roofline_takes_the_faster_product_of_numpy_and_tensorflow_and_adds_adam(quick_run):
    for name, row in quick_run[0]["rows"].items():
        assert 0 < row["products_seconds"] <= row["numpy_seconds"], name
        adam = row["fast"]["adam_alone_ms"] / 1000
        assert row["roofline_seconds"] == pytest.approx(row["products_seconds"] + adam), name


def test_the_traced_kernels_run_one_at_a_time(quick_run):
    """The time table's kernels add up to no more than the traced iterations: run two at a time
    (the timed session's threads), their sum came out above it, part 4's by half."""
    for name, row in quick_run[0]["rows"].items():
        for config in ("fast", "plain", "bfloat16"):
            if config in row:
                kernels = sum(row[config]["kernel_ms"].values())
                assert 0 < kernels <= row[config]["traced_ms"], (name, config)


def test_flops_are_those_of_the_networks(quick_run):
    """Part 1 by hand: six layers forward; backward, the weights' gradients of all six and the
    inputs' gradients of the five above the first (nothing needs the gradient of the images).
    --quick builds the networks with h units a hidden layer."""
    h = speed.QUICK.hidden_units
    weights = 784 * h + h * h + h * 2 + 2 * h + h * h + h * 784
    forward = 2 * speed.BATCH_SIZE * weights
    backward = 2 * forward - 2 * speed.BATCH_SIZE * 784 * h
    rows = quick_run[0]["rows"]
    assert rows["autoencoder"]["flops"] == forward + backward
    # Parts 2 and 3 add a discriminator; part 4 two, and a labelled batch.
    assert rows["autoencoder"]["flops"] < rows["adversarial_autoencoder"]["flops"] \
        < rows["supervised_aae"]["flops"] < rows["semi_supervised_aae"]["flops"]
    # Part 4's supervised phase multiplies its own batch of labelled images, of another size.
    import semi_supervised_aae
    assert semi_supervised_aae.LABELLED_BATCH_SIZE != speed.BATCH_SIZE
    part4 = rows["semi_supervised_aae"]["fast"]["matmuls"]
    assert any(m == semi_supervised_aae.LABELLED_BATCH_SIZE for m, *_ in part4)


def test_adam_updates_are_those_of_the_phases(quick_run):
    """Part 1 updates each of its 12 weights once an iteration; part 2 its encoder twice (by
    reconstruction and by the generator), its decoder and discriminator once."""
    h = speed.QUICK.hidden_units
    encoder = [[784, h], [h], [h, h], [h], [h, 2], [2]]
    decoder = [[2, h], [h], [h, h], [h], [h, 784], [784]]
    rows = quick_run[0]["rows"]
    assert sorted(rows["autoencoder"]["fast"]["adam_updates"]) == sorted(encoder + decoder)
    part2 = rows["adversarial_autoencoder"]["fast"]["adam_updates"]
    assert sum(shape == [784, h] for shape in part2) == 2
    assert sum(shape == [h, 784] for shape in part2) == 1  # the decoder's output layer
    for name, row in rows.items():
        assert row["fast"]["adam_alone_ms"] > 0, name


def test_every_child_sees_the_cpu_alone():
    for config in (*speed.CONFIGS, "numpy"):
        assert speed.config_env(config)["CUDA_VISIBLE_DEVICES"] == "-1", config


def test_the_two_configurations_really_differ(quick_run):
    for name, row in quick_run[0]["rows"].items():
        assert row["fast"]["onednn"] and not row["plain"]["onednn"], name


@pytest.mark.parametrize("name", speed.SCRIPTS)
def test_fast_settings_train_the_same_as_plain(quick_run, name):
    """Same seed, same first iterations: the losses and the weights agree to float32 tolerance."""
    results, out_dir = quick_run
    fast, plain = results["rows"][name]["fast"]["losses"], results["rows"][name]["plain"]["losses"]
    assert len(fast) == len(plain) == speed.COMPARED_ITERATIONS
    for fast_step, plain_step in zip(fast, plain):
        assert fast_step.keys() == plain_step.keys()
        for loss in fast_step:
            assert np.isclose(fast_step[loss], plain_step[loss], **speed.LOSS_TOLERANCE), loss
    assert fast[0] != fast[-1]  # the weights did move: identical untrained weights prove nothing

    fast_weights, plain_weights = (np.load(out_dir / f"{config}_{name}.npz") for config in ("fast", "plain"))
    assert fast_weights.files == plain_weights.files and fast_weights.files
    for variable in fast_weights.files:
        np.testing.assert_allclose(fast_weights[variable], plain_weights[variable],
                                   err_msg=variable, **speed.WEIGHT_TOLERANCE)


def test_quality_bench_trains_each_seed_and_prints_the_medians(tmp_path, mnist_dir):
    """bench/quality.py with a few iterations per seed (flags after -- go to the script)."""
    import subprocess
    from conftest import script_env
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "quality.py"), "supervised_aae",
                           "--seeds", "3", "4", "--out", str(tmp_path), "--", "--max_steps", "20", *SMALL],
                          cwd=ROOT, env=script_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 1), proc.stderr  # 1: a target missed, as 20 iterations will
    lines = proc.stdout.splitlines()
    [header] = [line.split() for line in lines if line.split()[:1] == ["seed"]]
    names = header[1:-1]
    assert names == list(quality.FIGURES["supervised_aae"]) and header[-1] == "minutes"
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in lines
            if line.split()[:1] in (["3"], ["4"], ["median"])}
    assert list(rows) == ["3", "4", "median"] and all(len(rows[s]) == 5 for s in ("3", "4"))
    for seed in ("3", "4"):  # each row is its run's metrics.json
        [run] = glob.glob(os.path.join(str(tmp_path), "supervised_aae", "*", f"seed{seed}",
                                       "Supervised", "*"))
        with open(os.path.join(run, "metrics.json")) as f:
            metrics = json.load(f)
        assert metrics["steps"] == 20
        for name, value in zip(names, rows[seed]):
            assert value == pytest.approx(metrics[name], abs=1e-4), (seed, name)
            assert 0 <= value <= 1 if name != "test_reconstruction_mse" else 0 < value < 0.3, name
        assert rows[seed][-1] == pytest.approx(metrics["train_seconds"] / 60, abs=0.05)
    medians = {name: np.median([rows["3"][i], rows["4"][i]]) for i, name in enumerate(names)}
    assert rows["median"] == pytest.approx(list(medians.values()), abs=1e-4)
    targets = [re.fullmatch(r"target: median (\w+) >= ([\d.]+): (met|MISSED) \(([\d.]+)\)", line)
               for line in lines if line.startswith("target: ")]
    assert [t.group(1) for t in targets] == ["label_following", "rows_right", "digit_likeness"]
    for name, low, verdict, median in (t.groups() for t in targets):
        assert float(median) == pytest.approx(medians[name], abs=1e-4)
        assert float(low) == quality.FIGURES["supervised_aae"][name][0]
        assert verdict == ("met" if float(median) >= float(low) else "MISSED"), name
    assert proc.returncode == (0 if all(t.group(3) == "met" for t in targets) else 1)
