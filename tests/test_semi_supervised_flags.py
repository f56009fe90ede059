"""Part 4's flags: shifted and turned labelled images, the pair discriminator, when the rates
drop, the labelled batch and batch normalisation.

Kept apart from test_semi_supervised_aae.py, whose module-wide graph would stop these tests from
building graphs of their own.
"""
import numpy as np
import pytest

from common import flags, mnist
from conftest import run_script

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
    proc = run_script(SCRIPT, "--train", "True", *argv, results_dir=tmp_path, check=False)
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


# -- the levers of the paper's accuracy: shifted labelled images, the pair discriminator ----------

def test_shifted_images_move_whole_and_bring_in_blank_pixels():
    import semi_supervised_aae as ssa
    images = np.zeros((3, 784), np.float32)
    images[:, 14 * 28 + 14] = 1.0  # one lit pixel in the middle of each image
    images[2, 0] = 0.5  # and one in the top left corner of the last
    rng = np.random.RandomState(0)
    shifted = ssa.shift_images(images, 2, rng).reshape(3, 28, 28)
    # the offsets drawn: each image shows the original's pixel (r + dy, c + dx) at (r, c)
    dy, dx = np.random.RandomState(0).randint(-2, 3, (2, 3))
    for i in range(3):
        assert shifted[i, 14 - dy[i], 14 - dx[i]] == 1.0
    corner_kept = dy[2] <= 0 and dx[2] <= 0  # else the corner pixel moved out of the picture
    assert shifted.sum() == pytest.approx(3.0 + (0.5 if corner_kept else 0))
    np.testing.assert_array_equal(ssa.shift_images(images, 0, rng), images)


class FixedAngle:
    """Stands in for the run's RandomState where rotate_images draws its angles."""

    def __init__(self, degrees):
        self.degrees = degrees

    def uniform(self, low, high, n):
        assert -low == high and abs(self.degrees) <= high
        return np.full(n, float(self.degrees))


def test_rotated_images_turn_about_the_centre_and_keep_their_ink():
    import semi_supervised_aae as ssa
    images = np.zeros((1, 28, 28), np.float32)
    images[0, 4, 14] = 1.0  # a lit pixel 9.5 rows above the centre (13.5, 13.5), 0.5 right of it
    images = images.reshape(1, 784)
    quarter = ssa.rotate_images(images, 90, FixedAngle(90)).reshape(28, 28)
    # a quarter turn takes it to 9.5 columns from the centre, on one side or the other
    [lit] = [tuple(p) for p in np.argwhere(quarter > 0.99)]
    assert lit in {(14, 23), (13, 4)}
    assert quarter.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(ssa.rotate_images(images, 90, FixedAngle(-90)).reshape(28, 28),
                               quarter[::-1, ::-1])  # the other way: the opposite point
    rng = np.random.RandomState(0)
    np.testing.assert_array_equal(ssa.rotate_images(images, 0, rng), images)


def test_rotated_digits_keep_their_ink_and_each_turns_by_its_own_angle(data):
    import semi_supervised_aae as ssa
    digits = data.train.images[:50]
    turned = ssa.rotate_images(digits, 10, np.random.RandomState(0))
    assert turned.shape == digits.shape and turned.dtype == np.float32
    assert 0 <= turned.min() and turned.max() <= 1
    # MNIST's digits sit in the middle 20 x 20: a small turn keeps all of their ink inside
    np.testing.assert_allclose(turned.sum(1), digits.sum(1), rtol=0.02)
    assert np.abs(turned - digits).sum(1).min() > 0  # every one moved
    # each by its own angle: turned alone, with that angle, each comes out the same
    angles = np.random.RandomState(0).uniform(-10, 10, len(digits))
    assert len(set(angles)) == len(digits)
    for k in (0, 17, 49):
        alone = ssa.rotate_images(digits[k:k + 1], 10, FixedAngle(angles[k]))
        np.testing.assert_allclose(alone[0], turned[k], atol=1e-6)
    again = ssa.rotate_images(digits, 10, np.random.RandomState(0))
    np.testing.assert_array_equal(turned, again)  # from the run's RandomState alone: resumable


def test_rotate_turns_the_labelled_batch_before_its_shift(data):
    ssa, args, g = build("--rotate", "10", "--shift", "2", "--seed", "0")
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, args.seed)
    feed = ssa.next_feed(g, unlabelled, labelled, np.random.RandomState(0), args)
    # the same batch, turned then shifted, the angles drawn first from the run's RandomState
    images, _ = mnist.split_labelled(data.train, 1000, args.seed)[0].next_batch(
        args.labelled_batch_size)
    rng = np.random.RandomState(0)
    expected = ssa.shift_images(ssa.rotate_images(images, 10, rng), 2, rng)
    np.testing.assert_array_equal(feed[g.x_labelled], expected)
    rng = np.random.RandomState(0)
    shifted_first = ssa.rotate_images(ssa.shift_images(images, 2, rng), 10, rng)
    assert not np.allclose(feed[g.x_labelled], shifted_first)
    # the unlabelled images are never turned
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
        ssa.next_feed(g, unlabelled, labelled, np.random.RandomState(0), args, epoch)
        for epoch in (14, 15, 19, 20, 22, 23))]
    # the others' rate is divided at epochs 15 and 22.5, the adversaries' at 19.5 and 22.5
    assert np.allclose(decays, [(1, 1), (0.1, 1), (0.1, 1), (0.1, 0.1), (0.1, 0.1),
                                (0.01, 0.01)])


# -- the labelled batch (--labelled_batch_size) --------------------------------------------------

def test_the_supervised_phase_reads_a_labelled_batch_of_its_own_size(data):
    # neither turned nor shifted, so that the images fed can be matched with the labelled set
    ssa, args, g = build("--labelled_batch_size", "250", "--rotate", "0", "--shift", "0",
                         "--seed", "0")
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, args.seed)
    feeds = [ssa.next_feed(g, unlabelled, labelled, np.random.RandomState(0), args)
             for _ in range(4)]
    assert feeds[0][g.x].shape == (100, 784)  # the unlabelled batch keeps --batch_size
    assert feeds[0][g.x_labelled].shape == feeds[0][g.x_labelled_encoder].shape == (250, 784)
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


@pytest.mark.parametrize("phases, mover", [(None, "reconstruction"),
                                           ((("supervised",),), "supervised")])
def test_with_batch_norm_one_phase_moves_the_running_averages_and_evaluation_reads_them(data,
                                                                                        phases,
                                                                                        mover):
    """The lesson's reconstruction, or the labelled-only baseline's one phase."""
    import tensorflow.compat.v1 as tf
    import semi_supervised_aae as ssa
    args = flags.parse(ssa.arg_parser(), ["--batch_norm", "--seed", "0"])
    g = ssa.build_graph(args, phases or ssa.PHASES)
    labelled, unlabelled = mnist.split_labelled(data.train, 1000, args.seed)
    feed = ssa.next_feed(g, unlabelled, labelled, np.random.RandomState(0), args)
    running = tf.global_variables(scope="Encoder/e_norm_1/running_mean")
    images = data.validation.images[:100]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        start = sess.run(running)
        for name in set(g.train_ops) - {mover}:
            sess.run(g.train_ops[name], feed)
            np.testing.assert_array_equal(sess.run(running), start)
        sess.run(g.train_ops[mover], feed)
        assert (sess.run(running)[0] != start[0]).mean() > 0.9
        together = sess.run(g.logits, {g.x: images})
        # by a batch's own statistics, a batch of one would give every image the same output
        alone = np.concatenate([sess.run(g.logits, {g.x: images[i:i + 1]}) for i in range(5)])
    np.testing.assert_allclose(alone, together[:5], rtol=1e-4, atol=1e-6)
    assert len({tuple(p.round(4)) for p in together}) > 50
