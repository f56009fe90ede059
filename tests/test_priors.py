"""Part 2's other priors and labels in the prior (adversarial_autoencoder_priors.py, the paper's
Figures 2 and 4), and the Parzen-window likelihood of a part-2 run
(adversarial_autoencoder_likelihood.py, the paper's Table 1)."""
import json
import math
import os
import types

import numpy as np
import pytest

import adversarial_autoencoder as aae
import adversarial_autoencoder_priors as priors
from common import flags, likelihood
from conftest import SMALL, make_run, read_metrics, run_folders, run_in_process, train_run

MODEL = "Adversarial_Autoencoder_Priors"


def prior(name, **more):
    return types.SimpleNamespace(prior=name, z_dim=2, use_labels=False, **more)


@pytest.mark.parametrize("name", ["gaussian", "mixture", "swiss_roll"])
def test_each_prior_draws_2d_codes_from_its_ten_components_evenly(name):
    if name == "gaussian":  # the lesson's
        z = aae.sample_prior(np.random.RandomState(0), 20000, prior(name))
        assert z.shape == (20000, 2) and z.dtype == np.float32
        np.testing.assert_allclose(z.std(0), aae.PRIOR_STD, rtol=0.03)
        return
    z, component = priors.sample_with_components(np.random.RandomState(0), 20000, prior(name))
    assert z.shape == (20000, 2) and z.dtype == np.float32 and component.shape == (20000,)
    np.testing.assert_array_equal(priors.sample_prior(np.random.RandomState(0), 20000, prior(name)), z)
    counts = np.bincount(component, minlength=priors.N_COMPONENTS)
    assert len(counts) == 10 and np.all(np.abs(counts / 20000 - 0.1) < 0.01)
    # about the Gaussian's disc: radius ~10 at the most
    assert np.percentile(np.hypot(z[:, 0], z[:, 1]), 99) < 12.5


def test_the_mixtures_components_lie_on_a_circle_at_their_angles():
    z, component = priors.sample_with_components(np.random.RandomState(1), 10000, prior("mixture"))
    for k in range(10):
        mean = z[component == k].mean(0)
        assert math.hypot(*mean) == pytest.approx(priors.MIXTURE_RADIUS, rel=0.05)
        expected = 2 * math.pi * k / 10
        assert mean[0] == pytest.approx(priors.MIXTURE_RADIUS * math.cos(expected), abs=0.3)
        assert mean[1] == pytest.approx(priors.MIXTURE_RADIUS * math.sin(expected), abs=0.3)


def test_the_swiss_rolls_segments_follow_its_spine_outwards():
    z, component = priors.sample_with_components(np.random.RandomState(2), 10000, prior("swiss_roll"))
    radius = np.hypot(z[:, 0], z[:, 1])
    medians = [np.median(radius[component == k]) for k in range(10)]
    assert medians == sorted(medians)  # segment 0 at the centre, segment 9 at the outer end
    assert max(radius) == pytest.approx(priors.ROLL_RADIUS, abs=4 * priors.ROLL_NOISE)


@pytest.mark.parametrize("name", ["mixture", "swiss_roll"])
def test_a_prior_sample_is_placed_in_the_component_it_came_from(name):
    z, component = priors.sample_with_components(np.random.RandomState(3), 5000, prior(name))
    # only where components touch (the mixture's centre, the roll's segment ends) can it miss
    assert np.mean(priors.components_of(z, prior(name)) == component) > 0.95


def test_use_labels_shows_the_discriminator_each_samples_component_and_each_codes_digit(mnist_dir):
    import tensorflow.compat.v1 as tf
    from common import mnist
    args = flags.parse(priors.arg_parser(), ["--prior", "mixture", "--use_labels"])  # alone: True
    assert args.use_labels is True
    g = priors.build_graph(args)
    shapes = {v.name: v.shape.as_list() for v in tf.trainable_variables()}
    assert shapes["Discriminator/dc_dense_1/weights:0"] == [2 + 10, 1000]
    data = mnist.load(mnist_dir, 0)
    rng = np.random.RandomState(5)
    feed = priors.next_feed(g, data, args, rng)
    z, component = priors.sample_with_components(np.random.RandomState(5), args.batch_size, args)
    np.testing.assert_array_equal(feed[g.prior_z], z)
    np.testing.assert_array_equal(feed[g.prior_component].argmax(1), component)
    assert np.all(feed[g.prior_component].sum(1) == 1) and np.all(feed[g.label].sum(1) == 1)
    # the codes' one-hots are the digits of the batch's images
    images, labels = mnist.load(mnist_dir, 0).train.next_batch(args.batch_size)
    np.testing.assert_array_equal(feed[g.x], images)
    np.testing.assert_array_equal(feed[g.label], labels)
    # the discriminator reads each point beside its one-hot, scaled by --label_scale (default 5)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        real, fake, codes = sess.run([g.discriminator_real, g.discriminator_fake, g.z], feed)
    np.testing.assert_array_equal(real, np.hstack([z, priors.LABEL_SCALE * feed[g.prior_component]]))
    np.testing.assert_array_equal(fake, np.hstack([codes, priors.LABEL_SCALE * labels]))


def test_label_scale_1_gives_the_discriminator_a_plain_one_hot(mnist_dir):
    import tensorflow.compat.v1 as tf
    from common import mnist
    args = flags.parse(priors.arg_parser(), ["--prior", "swiss_roll", "--use_labels", "True",
                                             "--label_scale", "1"])
    g = priors.build_graph(args)
    feed = priors.next_feed(g, mnist.load(mnist_dir, 0), args, np.random.RandomState(5))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        real, fake = sess.run([g.discriminator_real, g.discriminator_fake], feed)
    np.testing.assert_array_equal(real[:, 2:], feed[g.prior_component])
    np.testing.assert_array_equal(fake[:, 2:], feed[g.label])


@pytest.mark.parametrize("argv, message", [
    (["--use_labels", "maybe"], "expected True or False, got 'maybe'"),
    (["--prior", "swiss_roll", "--z_dim", "3"], "--prior swiss_roll is a prior of 2-D codes: use --z_dim 2."),
    (["--prior", "circle"], "invalid choice: 'circle'"),
    (["--prior", "gaussian"], "invalid choice: 'gaussian'"),  # the lesson's
    (["--prior", "mixture", "--label_scale", "5"], "--label_scale scales the labels that --use_labels"),
    (["--prior", "mixture", "--use_labels", "True", "--label_scale", "0"], "must be a positive number"),
])
def test_bad_prior_combinations_get_one_clear_error(argv, message, tmp_path):
    proc = run_in_process("adversarial_autoencoder_priors.py", "--train", "True", *argv,
                          results_dir=tmp_path, check=False)
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr


def test_label_match_counts_the_codes_in_their_own_digits_component():
    args = prior("mixture")
    args.use_labels = True
    digits = np.repeat(np.arange(10), 30)
    z, component = priors.sample_with_components(np.random.RandomState(4), 20000, args)
    own = np.concatenate([z[component == d][:30] for d in range(10)])  # each digit in its own
    assert priors.posterior_match(own, digits, args)["label_match"] > 0.9
    np.testing.assert_allclose(priors.posterior_match(own, digits, args)["component_shares"], 0.1,
                               atol=0.02)
    assert priors.posterior_match(own, (digits + 1) % 10, args)["label_match"] < 0.1
    # an encoder that puts every code in one place (as after 60 iterations) matches one digit alone
    one_place = np.tile(own[:1], (len(digits), 1))
    assert priors.posterior_match(one_place, digits, args)["label_match"] == pytest.approx(0.1)


@pytest.fixture(scope="module")
def mixture_run(tmp_path_factory, mnist_dir):
    """400 iterations at the full width put most digits' codes in their own components; at 128
    units, 200-400 iterations measured no better than untrained."""
    return train_run(tmp_path_factory, "adversarial_autoencoder_priors.py", MODEL, "--max_steps", "400",
                     "--prior", "mixture", "--use_labels", "--seed", "2", in_process=True)


def test_a_mixture_run_reports_how_its_codes_fill_the_components(mixture_run):
    results, run, proc = mixture_run
    metrics = read_metrics(run)
    assert metrics["prior"] == "mixture" and len(metrics["component_shares"]) == 10
    # the run records the noise its encoder saw, the default with labels
    recorded = json.load(open(os.path.join(run, "run.json")))["args"]
    assert recorded["input_noise"] == priors.MIXTURE_INPUT_NOISE
    assert sum(metrics["component_shares"]) == pytest.approx(1)
    # the codes of each digit in its own component: 400 iterations measured 70%, 29% and 53% with
    # seeds 2, 3 and 5 (at 128 units, 4-13%); untrained 6-7%, all in one component 10%
    assert metrics["label_match"] > 0.2, metrics["label_match"]
    assert "share of test codes per component" in proc.stdout
    drawn = run_in_process("adversarial_autoencoder_priors.py", "--train", "False", results_dir=results)
    assert f"Loaded {run} (step 400)" in drawn.stdout
    assert f"{100 * metrics['label_match']:.1f} % of test codes lie in their own digit's component" in drawn.stdout
    for name in ("latent_grid.png", "latent_scatter.png", "reconstructions.png"):
        assert os.path.exists(os.path.join(run, name)), name
    # its runs have a folder of their own: the lesson's --train False never loads one
    assert run.startswith(os.path.join(str(results), MODEL, ""))
    lesson = run_in_process("adversarial_autoencoder.py", "--train", "False", results_dir=results,
                            check=False)
    assert lesson.returncode == 1 and "no runs in" in lesson.stderr and "Traceback" not in lesson.stderr


def test_parzen_window_matches_a_brute_force_sum():
    rng = np.random.RandomState(0)
    samples, images = rng.rand(7, 5), rng.rand(4, 5)
    sigmas = [0.1, 0.3, 1.0]
    got = likelihood.log_likelihoods(samples, images, sigmas)
    for i, sigma in enumerate(sigmas):
        for j, x in enumerate(images):
            density = sum(math.exp(-((x - s) ** 2).sum() / (2 * sigma ** 2)) for s in samples)
            expected = math.log(density / 7 / (2 * math.pi * sigma ** 2) ** (5 / 2))
            assert got[i, j] == pytest.approx(expected, rel=1e-6)


def test_parzen_chooses_the_width_on_validation_and_reports_test():
    rng = np.random.RandomState(1)
    samples = rng.randn(300, 3)
    validation, test = rng.randn(100, 3), rng.randn(200, 3)
    estimate = likelihood.parzen(samples, validation, test, sigmas=[0.01, 0.5, 100.0])
    assert estimate["parzen_sigma"] == 0.5  # too narrow and too wide both lose on validation
    scores = likelihood.log_likelihoods(samples, test, [0.5])[0]
    assert estimate["parzen_test_mean"] == pytest.approx(scores.mean())
    assert estimate["parzen_test_standard_error"] == pytest.approx(scores.std(ddof=1) / math.sqrt(200))


def test_an_8d_run_gets_its_test_likelihood_from_the_likelihood_script(tmp_path_factory, mnist_dir):
    results, run, _ = train_run(tmp_path_factory, "adversarial_autoencoder.py", aae.MODEL,
                                "--max_steps", "20", "--z_dim", "8", *SMALL, in_process=True)
    # the newest run; the estimate's cost grows with the samples, and 500 show it all works
    proc = run_in_process("adversarial_autoencoder_likelihood.py", "--samples", "500", results_dir=results)
    assert f"Loaded {run} (step 20)" in proc.stdout and "under 500 decoded prior samples" in proc.stdout
    estimate = json.load(open(os.path.join(run, "parzen.json")))
    assert estimate["parzen_samples"] == 500 and math.isfinite(estimate["parzen_test_mean"])
    assert (f"{estimate['parzen_test_mean']:.1f} +- {estimate['parzen_test_standard_error']:.1f} nats"
            in proc.stdout)
    # the lesson's own --train False draws the figures and leaves the estimate to this script
    os.remove(os.path.join(run, "parzen.json"))
    drawn = run_in_process("adversarial_autoencoder.py", "--train", "False", results_dir=results)
    assert "Parzen" not in drawn.stdout and not os.path.exists(os.path.join(run, "parzen.json"))


def test_the_likelihood_script_refuses_a_2d_run_in_one_line(tmp_path, mnist_dir):
    # the lesson's flags are part 1's: make_run leaves a 2-D run of it on disk
    results = tmp_path
    run = make_run(results, aae.MODEL, "2026-01-01_00-00-00_run", checkpoint_step=2)
    proc = run_in_process("adversarial_autoencoder_likelihood.py", "--run", run, results_dir=results,
                          check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"error: {run} has a 2-D code; the Parzen-window estimate needs 8 or more: "
        "python adversarial_autoencoder.py --train True --z_dim 8")
    assert not os.path.exists(os.path.join(run, "parzen.json"))


def test_the_likelihood_script_without_runs_names_the_command_that_makes_one(tmp_path):
    proc = run_in_process("adversarial_autoencoder_likelihood.py", results_dir=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith(
        "Train first: python adversarial_autoencoder.py --train True --z_dim 8")


def test_input_noise_reaches_the_encoder_alone_and_comes_from_the_prior_rng(mnist_dir):
    from common import mnist
    import tensorflow.compat.v1 as tf
    data = mnist.load(mnist_dir, 0)
    args = flags.parse(priors.arg_parser(), ["--input_noise", "0.3", "--seed", "0"])
    g = priors.build_graph(args)
    rng = np.random.RandomState(7)
    feed = priors.next_feed(g, data, args, rng)
    noise = feed[g.x_encoder] - feed[g.x]
    assert noise.std() == pytest.approx(0.3, rel=0.02) and abs(noise.mean()) < 0.01
    # the noise is drawn after the prior samples, from the same RandomState: a resume repeats it
    again = np.random.RandomState(7)
    priors.sample_with_components(again, args.batch_size, args)
    np.testing.assert_allclose(noise, again.normal(0.0, 0.3, noise.shape), atol=1e-6)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        noisy_codes, loss = sess.run([g.z, g.reconstruction_loss], feed)
        clean_codes = sess.run(g.z, {g.x: feed[g.x]})  # what evaluation and the figures read
        # the decoder rebuilds the clean batch: the loss compares with x, not with the noisy copy
        recon = sess.run(g.reconstruction, feed)
    assert not np.allclose(noisy_codes, clean_codes)
    assert loss == pytest.approx(np.mean((feed[g.x] - recon) ** 2), rel=1e-5)
    # without noise nothing extra is fed and no random number is spent on it
    plain = flags.parse(priors.arg_parser(), ["--seed", "0"])
    priors.check_flags(plain)
    assert plain.input_noise == 0
    spent, expected = np.random.RandomState(7), np.random.RandomState(7)
    assert g.x_encoder not in priors.next_feed(g, data, plain, spent)
    priors.sample_with_components(expected, plain.batch_size, plain)
    assert spent.randint(2 ** 31) == expected.randint(2 ** 31)


def test_negative_input_noise_is_refused(capsys):
    with pytest.raises(SystemExit):
        flags.parse(priors.arg_parser(), ["--input_noise", "-0.1"])
    assert "must be 0 or more" in capsys.readouterr().err


@pytest.mark.parametrize("argv, noise", [
    ([], 0.0),  # the mixture without labels: the original's setting, no noise
    (["--prior", "mixture", "--use_labels"], priors.MIXTURE_INPUT_NOISE),
    (["--prior", "mixture", "--use_labels", "True"], priors.MIXTURE_INPUT_NOISE),
    (["--prior", "swiss_roll", "--use_labels"], 0.0),
    (["--prior", "mixture", "--use_labels", "--input_noise", "0"], 0.0),
    (["--input_noise", "0.2"], 0.2),
])
def test_input_noise_is_0_3_on_the_mixture_with_labels_and_off_otherwise(argv, noise):
    args = flags.parse(priors.arg_parser(), argv)
    priors.check_flags(args)
    assert args.input_noise == noise


def test_a_resumed_run_with_labels_and_noise_equals_an_uninterrupted_one(tmp_path, mnist_dir):
    """--resume alone takes the run's own --prior, --use_labels and --input_noise, and the prior's
    RandomState (which also draws the noise) continues where the checkpoint left it."""
    import tensorflow as tf
    given = ("--prior", "mixture", "--use_labels", "--seed", "4", *SMALL)
    script = "adversarial_autoencoder_priors.py"
    run_in_process(script, "--train", "True", "--max_steps", "40", *given, results_dir=tmp_path / "straight")
    run_in_process(script, "--train", "True", "--max_steps", "20", *given, results_dir=tmp_path / "stopped")
    proc = run_in_process(script, "--train", "True", "--resume", "--max_steps", "40",
                          results_dir=tmp_path / "stopped")
    assert "Resuming" in proc.stdout

    def final_weights(results):
        [run] = run_folders(results, MODEL)
        assert json.load(open(os.path.join(run, "run.json")))["args"]["input_noise"] == 0.3
        reader = tf.train.load_checkpoint(os.path.join(run, "Saved_models", MODEL.lower() + "-40"))
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}

    straight, resumed = final_weights(tmp_path / "straight"), final_weights(tmp_path / "stopped")
    assert straight.keys() == resumed.keys() and any("Adam" in k for k in straight)
    for name in straight:
        np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)
