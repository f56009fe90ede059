"""Part 4's flags: shifted and turned labelled images, the pair discriminator, when the rates
drop, the labelled batch and batch normalisation.

Kept apart from test_semi_supervised_aae.py, whose module-wide graph would stop these tests from
building graphs of their own.
"""
import numpy as np
import pytest

from common import flags, mnist
from conftest import run_in_process

SCRIPT = "semi_supervised_aae.py"


# -- the graph a set of flags builds ---------------------------------------------------------------

def build(*argv):
    import semi_supervised_aae as ssa
    args = flags.parse(ssa.arg_parser(), list(argv))
    ssa.check_flags(args)
    return ssa, args, ssa.build_graph(args)


def test_the_lesson_has_ten_digits_and_judges_each_label_alone():
    import tensorflow.compat.v1 as tf
    ssa, args, g = build()
    assert [name for phase in g.phases for name in phase] == [
        "reconstruction", "discriminator_gauss", "discriminator_cat", "generator", "supervised"]
    shapes = {v.name: v.shape.as_list() for v in tf.trainable_variables()}
    assert shapes["Encoder/e_label/weights:0"] == [1000, 10]
    assert shapes["Discriminator_cat/dc_c_dense_1/weights:0"] == [10, 1000]


@pytest.mark.parametrize("argv, message", [
    (["--n_labels", "0"], "to cluster without labels: python semi_supervised_aae_clustering.py"),
    (["--n_labels", "100", "--labelled_batch_size", "250"],
     "--labelled_batch_size 250 is more than the 100 labelled images"),
])
def test_bad_label_flags_get_one_clear_error(argv, message, tmp_path):
    proc = run_in_process(SCRIPT, "--train", "True", *argv, results_dir=tmp_path, check=False)
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv, value", [([], True), (["--batch_norm"], True),
                                         (["--batch_norm", "True"], True),
                                         (["--batch_norm", "False"], False),
                                         (["--batch_norm=no"], False)])
def test_a_boolean_flag_given_alone_means_true(argv, value):
    import semi_supervised_aae as ssa
    args = flags.parse(ssa.arg_parser(), argv + ["--pair_discriminator"])
    assert args.batch_norm is value and args.pair_discriminator is True
    assert flags.parse(ssa.arg_parser(), ["--pair_discriminator", "False"]).pair_discriminator is False


# -- the random feed, drawn in the graph: turns, shifts, noise, the priors' samples --------------

def transformed(images, degrees, offsets):
    """ssa.turn_and_shift on numpy arrays: each image turned by its angle (degrees) and moved by
    its (down, right) offset; the results as 28 x 28 pictures."""
    import tensorflow.compat.v1 as tf
    import semi_supervised_aae as ssa
    with tf.Graph().as_default(), tf.Session() as sess:
        out = ssa.turn_and_shift(tf.constant(np.reshape(images, (-1, 784)), tf.float32),
                                 tf.constant(np.deg2rad(degrees), tf.float32),
                                 tf.constant(offsets, tf.float32))
        return sess.run(out).reshape(-1, 28, 28)


def moved(picture, down, right):
    """picture moved by whole pixels with numpy, blank where nothing was."""
    out = np.zeros_like(picture)
    out[max(down, 0):28 + min(down, 0), max(right, 0):28 + min(right, 0)] = \
        picture[max(-down, 0):28 + min(-down, 0), max(-right, 0):28 + min(-right, 0)]
    return out


def test_a_quarter_turn_is_numpys_anticlockwise_rot90(data):
    digits = data.train.images[:3].reshape(3, 28, 28)
    turned = transformed(digits, [90, 90, -90], np.zeros((3, 2)))
    np.testing.assert_allclose(turned[:2], np.rot90(digits[:2], axes=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(turned[2], np.rot90(digits[2], -1), atol=1e-5)  # -90: clockwise


def test_a_shift_moves_the_picture_whole_and_brings_in_blank_pixels():
    # ink up to the edges, so that pixels wrapped around or smeared would show
    picture = np.random.RandomState(0).uniform(0.1, 1, (28, 28)).astype(np.float32)
    shifted = transformed(picture, [0], [[2, -1]])[0]  # two rows down, one column left
    np.testing.assert_array_equal(shifted, moved(picture, 2, -1))
    assert (shifted[:2] == 0).all() and (shifted[:, -1] == 0).all()


def test_an_image_is_turned_before_it_is_shifted():
    picture = np.random.RandomState(1).uniform(0.1, 1, (28, 28)).astype(np.float32)
    both = transformed(picture, [90], [[2, -1]])[0]
    np.testing.assert_allclose(both, moved(np.rot90(picture), 2, -1), atol=1e-5)
    assert not np.allclose(both, np.rot90(moved(picture, 2, -1)), atol=0.1)


def random_views(images, max_degrees, max_shift, step=0):
    """ssa.random_views on numpy arrays, its two streams seeded by the step."""
    import tensorflow.compat.v1 as tf
    import semi_supervised_aae as ssa
    with tf.Graph().as_default(), tf.Session() as sess:
        views = ssa.random_views(tf.constant(images, tf.float32), max_degrees, max_shift,
                                 tf.constant([step, 1]), tf.constant([step, 2]))
        return sess.run(views).reshape(-1, 28, 28)


def test_each_image_is_shifted_by_its_own_offset_of_whole_pixels_up_to_the_flag():
    pictures = np.random.RandomState(2).uniform(0.1, 1, (250, 28, 28)).astype(np.float32)
    views = random_views(pictures.reshape(250, 784), 0, 2)
    offsets = []
    for picture, view in zip(pictures, views):
        [offset] = [(down, right) for down in range(-2, 3) for right in range(-2, 3)
                    if np.array_equal(view, moved(picture, down, right))]
        offsets.append(offset)
    assert set(offsets) == {(down, right) for down in range(-2, 3) for right in range(-2, 3)}
    again = random_views(pictures.reshape(250, 784), 0, 2)
    np.testing.assert_array_equal(again, views)
    assert not np.array_equal(random_views(pictures.reshape(250, 784), 0, 2, step=1), views)


def ink_angle(pictures):
    """Degrees, anticlockwise, of each picture's centre of ink about the picture's centre."""
    rows, cols = np.mgrid[0:28, 0:28] - 13.5
    ink = pictures.sum((1, 2))
    up, right = -(pictures * rows).sum((1, 2)) / ink, (pictures * cols).sum((1, 2)) / ink
    return np.degrees(np.arctan2(up, right))


def test_each_image_is_turned_by_its_own_angle_up_to_the_flag():
    blob = np.zeros((28, 28), np.float32)
    blob[12:16, 22:26] = 1.0  # a 4 x 4 blob 10 pixels right of the centre: at 0 degrees
    # the estimate of the angle is good to a tenth of a degree
    np.testing.assert_allclose(ink_angle(transformed([blob] * 3, [-7, 3, 9], np.zeros((3, 2)))),
                               [-7, 3, 9], atol=0.1)
    angles = ink_angle(random_views(np.tile(blob.reshape(1, 784), (250, 1)), 10, 0))
    assert np.abs(angles).max() < 10.1 and angles.min() < -9 and angles.max() > 9
    assert len(np.unique(angles.round(3))) == 250
    assert abs(angles.std() - 20 / np.sqrt(12)) < 0.6  # uniform on (-10, 10)


def test_the_input_noise_has_the_asked_std_and_independent_pixels():
    import tensorflow.compat.v1 as tf
    import semi_supervised_aae as ssa
    with tf.Graph().as_default(), tf.Session() as sess:
        noise = sess.run(ssa.noisy(tf.zeros([2000, 784]), 0.5, tf.constant([0, 7])))
    assert abs(noise.mean()) < 0.002 and abs(noise.std() - 0.5) < 0.002
    assert abs((np.abs(noise) < 0.5).mean() - 0.6827) < 0.002  # a Gaussian's share within 1 std
    assert abs((np.abs(noise) < 1.0).mean() - 0.9545) < 0.002  # and within 2
    # the pixels drawn as cosines and those drawn as sines, of the same pairs: uncorrelated
    assert abs(np.corrcoef(noise[:, :392].ravel(), noise[:, 392:].ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(noise[:-1].ravel(), noise[1:].ravel())[0, 1]) < 0.01


def draws(g, feed):
    """What the graph draws for a feed: the encoder's noisy input, the labelled views, the prior's
    samples."""
    import tensorflow.compat.v1 as tf
    with tf.Session() as sess:
        return sess.run([g.x_encoder, g.x_labelled_encoder, g.z_prior, g.y_prior], feed)


def blank_feed(g, step, n=100, n_labelled=250):
    return {g.step: step, g.x: np.zeros((n, 784), np.float32),
            g.x_labelled: np.zeros((n_labelled, 784), np.float32)}


def test_the_same_seed_and_step_draw_the_same_and_another_step_or_seed_others():
    ssa, args, g = build("--seed", "3")
    first = draws(g, blank_feed(g, 7))
    for a, b in zip(first, draws(g, blank_feed(g, 7))):  # another session, as after a resume
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first, draws(g, blank_feed(g, 8))):
        assert not np.array_equal(a, b)
    # each draw has a stream of its own: the noise of as many unlabelled and labelled images
    # differs
    noise, labelled_noise, _, _ = draws(g, blank_feed(g, 7, n=250))
    assert not np.allclose(noise, labelled_noise)
    ssa, args, g = build("--seed", "4")
    for a, b in zip(first, draws(g, blank_feed(g, 7))):
        assert not np.array_equal(a, b)


def test_the_priors_samples_have_the_asked_std_and_use_every_label_alike():
    import tensorflow.compat.v1 as tf
    ssa, args, g = build("--prior_std", "5")
    with tf.Session() as sess:  # one session: a new one per step costs more than the draws
        samples = [sess.run([g.z_prior, g.y_prior], blank_feed(g, step)) for step in range(100)]
    z = np.concatenate([z for z, _ in samples])
    labels = np.concatenate([y for _, y in samples])
    assert z.shape == (10000, 10) and abs(z.std() - 5) < 0.1 and abs(z.mean()) < 0.1
    assert set(np.unique(labels)) == {0, 1} and (labels.sum(1) == 1).all()
    counts = labels.sum(0)
    assert counts.shape == (10,) and ((counts - 1000) ** 2 / 1000).sum() < 27.9  # chi2, p 0.001


def test_only_the_labelled_images_are_turned_and_shifted(data):
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, 0)
    images, labelled_images = unlabelled.images[:100], labelled.images[:250]

    def feed(g):
        return {g.step: 0, g.x: images, g.x_labelled: labelled_images}
    ssa, args, g = build("--input_noise", "0")
    x_encoder, views, _, _ = draws(g, feed(g))
    np.testing.assert_array_equal(x_encoder, images)
    assert (np.abs(views - labelled_images).sum(1) > 0).all()  # every one moved
    # MNIST's digits sit in the middle 20 x 20: a small turn and shift keep their ink, but for
    # the few that reach an edge (3 of these 250 lost 2-3 % of it)
    kept = views.sum(1) / labelled_images.sum(1)
    assert abs(np.median(kept) - 1) < 0.001 and kept.min() > 0.9
    ssa, args, g = build("--input_noise", "0", "--rotate", "0", "--shift", "0")
    np.testing.assert_array_equal(draws(g, feed(g))[1], labelled_images)


def test_python_feeds_the_batches_the_step_and_the_rates_alone(data):
    ssa, args, g = build("--seed", "0")
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, args.seed)
    feed = ssa.next_feed(g, unlabelled, labelled, args, 12)
    assert set(feed) == {g.step, g.x, g.x_labelled, g.y_labelled, g.decay, g.adversarial_decay}
    assert feed[g.step] == 12
    assert {row.tobytes() for row in feed[g.x_labelled]} <= {row.tobytes() for row in labelled.images}
    assert {row.tobytes() for row in feed[g.x]} <= {row.tobytes() for row in unlabelled.images}


@pytest.mark.parametrize("mode, width", [("False", 10), ("True", 20)])
def test_the_gaussian_discriminator_sees_z_or_z_with_a_label(mode, width):
    import tensorflow.compat.v1 as tf
    build("--pair_discriminator", mode)
    shapes = {v.name: v.shape.as_list() for v in tf.trainable_variables()}
    assert shapes["Discriminator_gauss/dc_g_dense_1/weights:0"] == [width, 1000]


# -- when the adversarial rate drops -------------------------------------------------------------

def test_adversarial_drops_take_fractions_only(capsys):
    import semi_supervised_aae as ssa
    parse = lambda *argv: flags.parse(ssa.arg_parser(), list(argv))
    assert parse().adversarial_drops == list(ssa.ADVERSARIAL_DROPS)
    args = parse("--adversarial_drops", "0.4", "0.75", "--epochs", "30")
    assert [ssa.learning_rate_decay(args, e, args.adversarial_drops) for e in (11, 12, 22, 23)] == \
        pytest.approx([1, 0.1, 0.1, 0.01])
    never = parse("--adversarial_drops")  # no fraction: the adversarial rate never drops
    assert never.adversarial_drops == [] and ssa.learning_rate_decay(never, 999, []) == 1
    with pytest.raises(SystemExit):
        parse("--adversarial_drops", "1.5")
    assert "must be in [0, 1], got '1.5'" in capsys.readouterr().err


def test_each_iteration_is_fed_the_rates_of_its_epoch(data):
    ssa, args, g = build("--epochs", "30")
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, args.seed)
    decays = [(feed[g.decay], feed[g.adversarial_decay]) for feed in (
        ssa.next_feed(g, unlabelled, labelled, args, 0, epoch) for epoch in (14, 15, 19, 20, 22, 23))]
    # the others' rate is divided at epochs 15 and 22.5, the adversaries' at 19.5 and 22.5
    assert np.allclose(decays, [(1, 1), (0.1, 1), (0.1, 1), (0.1, 0.1), (0.1, 0.1),
                                (0.01, 0.01)])


# -- the labelled batch (--labelled_batch_size) --------------------------------------------------

def test_the_supervised_phase_reads_a_labelled_batch_of_its_own_size(data):
    ssa, args, g = build("--labelled_batch_size", "250", "--seed", "0")
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, args.seed)
    feeds = [ssa.next_feed(g, unlabelled, labelled, args, step) for step in range(4)]
    assert feeds[0][g.x].shape == (100, 784)  # the unlabelled batch keeps --batch_size
    assert feeds[0][g.x_labelled].shape == draws(g, feeds[0])[1].shape == (250, 784)
    assert feeds[0][g.y_labelled].shape == (250, 10)
    # four batches of 250 are one pass over the 1,000 labelled images, each image once
    seen = np.concatenate([feed[g.x_labelled] for feed in feeds])
    assert len({row.tobytes() for row in seen}) == 1000
    assert {row.tobytes() for row in seen} == {row.tobytes() for row in labelled.images}


def test_fewer_labels_than_the_default_batch_make_one_batch_of_all_of_them():
    ssa, args, g = build("--n_labels", "50")
    assert args.labelled_batch_size == 50


# -- batch normalisation in the encoder (--batch_norm) ---------------------------------------------

def test_batch_norm_standardises_by_the_batch_and_moves_the_running_averages_a_hundredth():
    import tensorflow.compat.v1 as tf
    import semi_supervised_aae as ssa
    tf.reset_default_graph()
    h = tf.placeholder(tf.float32, [None, 3])
    values = np.random.RandomState(0).normal([1, -2, 5], [0.5, 2, 3], (200, 3)).astype(np.float32)
    with tf.variable_scope("layer"):
        by_batch = ssa.batch_norm(h, "norm", "update")
    with tf.variable_scope("layer", reuse=True):
        by_running = ssa.batch_norm(h, "norm", "running")
    running_mean, running_variance = tf.global_variables(scope="layer/norm/running")
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        before = sess.run(by_running, {h: values})
        normalised, _ = sess.run([by_batch, tf.get_collection(tf.GraphKeys.UPDATE_OPS)],
                                 {h: values})
        mean, variance = sess.run([running_mean, running_variance])
    # the running averages start at mean 0 and variance 1, and gamma at 1 and beta at 0
    np.testing.assert_allclose(before, values / np.sqrt(1 + 1e-3), rtol=1e-5)
    np.testing.assert_allclose(normalised.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(normalised.std(0), values.std(0) / np.sqrt(values.var(0) + 1e-3),
                               rtol=1e-4)  # 1e-3: the variance's epsilon
    np.testing.assert_allclose(mean, 0.01 * values.mean(0), rtol=1e-4)
    np.testing.assert_allclose(variance, 0.99 + 0.01 * values.var(0), rtol=1e-4)


def test_batch_norm_gives_the_encoder_alone_scales_offsets_and_running_averages():
    import tensorflow.compat.v1 as tf
    ssa, args, g = build()
    assert args.batch_norm is True  # the default with labels
    trainable = {v.name for v in tf.trainable_variables() if "norm" in v.name}
    assert trainable == {f"Encoder/e_norm_{i}/{name}:0" for i in (1, 2) for name in ("gamma", "beta")}
    running = {v.name for v in tf.global_variables() if "running" in v.name}
    assert running == {f"Encoder/e_norm_{i}/running_{name}:0" for i in (1, 2)
                       for name in ("mean", "variance")}
    ssa, args, g = build("--batch_norm", "False")
    assert args.batch_norm is False
    assert not [v for v in tf.global_variables() if "norm" in v.name]


@pytest.mark.parametrize("phases, first_input", [(None, "x_encoder"),
                                                 ((("supervised",),), "x_labelled_encoder")])
def test_with_batch_norm_the_first_phase_moves_the_running_averages_and_evaluation_reads_them(
        data, phases, first_input):
    """The lesson's reconstruction, or the labelled-only baseline's one phase: an iteration moves
    the running averages once, towards the statistics of the batch its first phase reads."""
    import tensorflow.compat.v1 as tf
    import semi_supervised_aae as ssa
    args = flags.parse(ssa.arg_parser(), ["--batch_norm", "--seed", "0"])
    g = ssa.build_graph(args, phases or ssa.PHASES)
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, args.seed)
    feed = ssa.next_feed(g, unlabelled, labelled, args, 0)
    [running] = tf.global_variables(scope="Encoder/e_norm_1/running_mean")
    [weights] = tf.trainable_variables(scope="Encoder/e_dense_1/weights")
    [bias] = tf.trainable_variables(scope="Encoder/e_dense_1/bias")
    images = data.validation.images[:100]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        start, inputs, w, b = sess.run([running, getattr(g, first_input), weights, bias], feed)
        ssa.train_step(sess, g, feed)
        batch_mean = (inputs @ w + b).mean(0)  # the first layer's units before normalisation
        np.testing.assert_allclose(sess.run(running),
                                   start + (1 - ssa.BN_MOMENTUM) * (batch_mean - start),
                                   rtol=1e-4, atol=1e-7)
        assert (sess.run(running) != start).mean() > 0.9
        together = sess.run(g.logits, {g.x: images})
        # by a batch's own statistics, a batch of one would give every image the same output
        alone = np.concatenate([sess.run(g.logits, {g.x: images[i:i + 1]}) for i in range(5)])
    np.testing.assert_allclose(alone, together[:5], rtol=1e-4, atol=1e-6)
    assert len({tuple(p.round(4)) for p in together}) > 50
