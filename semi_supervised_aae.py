"""Part 4: a semi-supervised adversarial autoencoder learns to read digits from 1,000 labels.

The encoder now has two heads. One gives a 10-way label y (a softmax), the other a style code z;
the decoder rebuilds the image from both. Two adversaries shape them: a Gaussian discriminator
pushes z towards the prior N(0, I), and a categorical discriminator pushes y towards one-hot
vectors drawn uniformly, so that the encoder must commit to one of ten clusters and use them all
equally. The Gaussian discriminator sees z beside the label the encoder chose, against a prior
sample beside the same label: to pass, z must not tell the digit, so the digit is left to y.
Reconstruction then forces those ten clusters to carry what z cannot: the digit. A few labelled
images (1,000 of the 55,000, 100 of each digit) are enough to tie each cluster to its digit name
through a cross-entropy loss on y. Each iteration has five phases:

    phase                  trains                      to
    1. reconstruction      encoder and decoder         make decoder([y, z]) look like the input
    2. Gaussian disc.      Gaussian discriminator      tell prior samples of z from the codes
    3. categorical disc.   categorical discriminator   tell random one-hot vectors from the y's
    4. generator           encoder                     make z and y fool both discriminators
    5. supervised          encoder                     predict the labels of a labelled batch

Each phase reads the weights the one before it left, and the whole iteration is one session
call: control dependencies order the phases inside it (see build_graph).

The labelled images come from the training split, chosen by --seed; the rest of it is the
unlabelled data, whose one pass is an epoch. Accuracy is measured on the 5,000 validation images
after each epoch and on the 10,000 test images once, at the end.

    python semi_supervised_aae.py --train True    # train; prints the run folder
    python semi_supervised_aae.py --train False   # style x digit grid, confusion matrix, accuracy curve
    tensorboard --logdir Results                  # losses, accuracy, code histograms, images

Networks: encoder 784 -> 1000 -> 1000 -> z (10, linear) and label logits (10), its two hidden
layers batch-normalised; decoder [softmax(label), z] (20) -> 1000 -> 1000 -> 784 sigmoid; each
discriminator -> 1000 -> 1000 -> 1, the Gaussian one reading [z, one-hot label] (20), the
categorical one y (10); every hidden layer has 1000 units (--hidden_units). Each phase has its
own Adam: 0.001 for reconstruction and the labels, 0.0001 for the adversaries, each divided by
10 twice late in training. Batches of 100 unlabelled and 250 labelled images; in training the
encoder sees its input with Gaussian noise added, and each labelled image is turned and shifted a
little each time it is used. The original's discriminator of z alone and its prior N(0, 5^2 I)
come back with `--pair_discriminator False --prior_std 5`. docs/part4.md has the measurements
behind each choice.

The paper's other experiments import these networks: semi_supervised_aae_clustering.py clusters
the images with no label at all, and semi_supervised_aae_labels_only.py trains the classifier on
the 1,000 labelled images alone, the baseline that shows what the unlabelled images add.
"""
import os
import sys
import time
import types

import numpy as np

import common  # first: it sets up TensorFlow (oneDNN, graph mode) before TensorFlow loads
import tensorflow.compat.v1 as tf
from common import figures, flags, judge, mnist, precision, runs, summaries

MODEL = "Semi_Supervised"
INPUT_DIM = 784
Z_DIM = 10
N_CLASSES = 10
EPOCHS = 60  # twice the paper's 30: accuracy still rises in the second half (docs/part4.md)
INPUT_NOISE = 0.5  # noise on the encoder's input slows its learning the 1,000 labels by heart
SHIFT = 2  # pixels a labelled image moves, at most, each time it is used: new views of few labels
ROTATE = 10.0  # degrees a labelled image turns, at most, either way: the same, by turning
PAIR_DISCRIMINATOR = True  # z judged beside its label: a z that tells the digit is caught
PRIOR_STD = 1.0  # the original's N(0, 5^2 I) drowns out the label's 0s and 1s in the decoder
BATCH_NORM = True  # normalised hidden layers make the encoder a better classifier
BN_MOMENTUM = 0.99  # the running averages keep this much of their value each iteration
LABELLED_BATCH_SIZE = 250  # labelled images a step: more of the labels' signal for its cost
# At the full rate the adversaries push the codes to their priors before the labels mean anything.
ADVERSARIAL_LEARNING_RATE = 0.0001
LR_DROPS = (0.5, 0.75)  # fractions of --epochs after which the other rates are divided by 10
ADVERSARIAL_DROPS = (0.65, 0.75)  # later for the adversaries, while the generator learns its label
LOG_EVERY = 50  # iterations between log lines and TensorBoard summaries
EPOCH_TEST_IMAGES = 2000  # enough for each epoch's test-error curve; the final figure uses all
QUALITY_STYLES = 1000  # prior styles the digit judge scores at the end (each as 10 digits)
JUDGED = f"{QUALITY_STYLES} prior styles x every label"  # what they are taken over
QUALITY_STYLES_PER_EPOCH = 100  # and after each epoch, for TensorBoard's Quality/ section


def dense(x, n_in, n_out, name):
    """A fully connected layer, x @ W + b, whose variables live in its own scope."""
    with tf.variable_scope(name, reuse=None):
        weights = tf.get_variable("weights", [n_in, n_out],
                                  initializer=tf.random_normal_initializer(mean=0.0, stddev=0.01))
        bias = tf.get_variable("bias", [n_out], initializer=tf.constant_initializer(0.0))
        return tf.add(tf.matmul(x, weights), bias, name="matmul")


def encoder(x, z_dim, n_clusters, n_hidden, reuse=False, norm=None):
    """Image (784) -> (style z, label logits): one trunk, two linear heads. norm normalises the
    trunk's hidden layers (see batch_norm)."""
    with tf.variable_scope("Encoder", reuse=reuse):
        e_1 = tf.nn.relu(batch_norm(dense(x, INPUT_DIM, n_hidden, "e_dense_1"), "e_norm_1", norm))
        e_2 = tf.nn.relu(batch_norm(dense(e_1, n_hidden, n_hidden, "e_dense_2"), "e_norm_2", norm))
        z = dense(e_2, n_hidden, z_dim, "e_latent_variable")
        logits = dense(e_2, n_hidden, n_clusters, "e_label")
        return z, logits


def batch_norm(h, name, norm):
    """Batch normalisation: each unit of h standardised, then scaled and shifted by a learnt
    gamma and beta. norm says by what statistics: "batch", the batch's own mean and variance;
    "update", the same, and the running averages move towards them (once an iteration, see
    build_graph); "running", the running averages, so that at evaluation an image's label does
    not depend on the other images of its batch. None: h as it is (--batch_norm False).
    """
    if norm is None:
        return h
    n = h.shape[1]
    with tf.variable_scope(name):
        gamma = tf.get_variable("gamma", [n], initializer=tf.ones_initializer())
        beta = tf.get_variable("beta", [n], initializer=tf.zeros_initializer())
        running_mean = tf.get_variable("running_mean", [n], trainable=False,
                                       initializer=tf.zeros_initializer())
        running_variance = tf.get_variable("running_variance", [n], trainable=False,
                                           initializer=tf.ones_initializer())
    if norm == "running":
        mean, variance = running_mean, running_variance
    else:
        mean, variance = tf.nn.moments(h, [0])
        if norm == "update":
            for running, batch in ((running_mean, mean), (running_variance, variance)):
                tf.add_to_collection(tf.GraphKeys.UPDATE_OPS,
                                     running.assign_sub((1.0 - BN_MOMENTUM) * (running - batch)))
    return tf.nn.batch_normalization(h, mean, variance, beta, gamma, 1e-3)


def decoder(y, z, z_dim, n_clusters, n_hidden, reuse=False):
    """(label y, style z) -> image (784): the label comes first in the decoder's input."""
    with tf.variable_scope("Decoder", reuse=reuse):
        d_1 = tf.nn.relu(dense(tf.concat([y, z], 1), n_clusters + z_dim, n_hidden, "d_dense_1"))
        d_2 = tf.nn.relu(dense(d_1, n_hidden, n_hidden, "d_dense_2"))
        return tf.nn.sigmoid(dense(d_2, n_hidden, INPUT_DIM, "d_output"))


def discriminator_gauss(z, n_in, n_hidden, reuse=False):
    """Style code (or a (style, label) pair) -> one logit: high for samples of the prior, low
    for the encoder's codes."""
    with tf.variable_scope("Discriminator_gauss", reuse=reuse):
        dc_1 = tf.nn.relu(dense(z, n_in, n_hidden, "dc_g_dense_1"))
        dc_2 = tf.nn.relu(dense(dc_1, n_hidden, n_hidden, "dc_g_dense_2"))
        return dense(dc_2, n_hidden, 1, "dc_g_output")


def discriminator_cat(y, n_in, n_hidden, reuse=False):
    """Label vector -> one logit: high for random one-hot vectors, low for the encoder's softmax."""
    with tf.variable_scope("Discriminator_cat", reuse=reuse):
        dc_1 = tf.nn.relu(dense(y, n_in, n_hidden, "dc_c_dense_1"))
        dc_2 = tf.nn.relu(dense(dc_1, n_hidden, n_hidden, "dc_c_dense_2"))
        return dense(dc_2, n_hidden, 1, "dc_c_output")


def cross_entropy(logits, target):
    """Sigmoid cross-entropy of one-logit outputs against a constant target (1 real, 0 fake)."""
    labels = tf.ones_like(logits) if target == 1 else tf.zeros_like(logits)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


# The phases in the order they run. The two discriminators train disjoint networks on the same
# codes, so one step of both computes exactly what two steps would, with one encoder pass.
PHASES = (("reconstruction",), ("discriminator_gauss", "discriminator_cat"), ("generator",),
          ("supervised",))

# What each loss trains, and whether it is adversarial (trained at the adversarial rate).
TRAINS = {"reconstruction": (("Encoder", "Decoder"), False),
          "discriminator_gauss": (("Discriminator_gauss",), True),
          "discriminator_cat": (("Discriminator_cat",), True),
          "generator": (("Encoder",), True),
          "supervised": (("Encoder",), False)}


def build_graph(args, phases=PHASES, n_clusters=N_CLASSES, categorical_input=None):
    """Placeholders, the five networks, the losses and optimisers of the phases trained, the
    summaries. The experiments that import this lesson change three things: which phases train,
    how many clusters y has, and what the categorical discriminator reads of a batch of y's
    (categorical_input; each y alone if None).

    One session call runs a whole iteration (see train_step). Each phase builds its networks'
    passes again, inside tf.control_dependencies on the updates of the phase before: its reads of
    the weights wait for those updates, as if each phase were a call of its own, one after the
    other. The variables are shared (tf.AUTO_REUSE): made by the first phase that uses them. One
    pass is not built again: the generator reads the unlabelled batch's codes that the
    discriminators' phase computed, as that phase changes no encoder weight.
    """
    tf.reset_default_graph()
    tf.set_random_seed(args.seed)
    g = placeholders(args, n_clusters)
    random_inputs(g, args)
    g.phases, g.losses, g.train_ops = phases, {}, {}
    updates, codes = [], None
    for i, phase in enumerate(phases):
        # In training, batch normalisation uses each batch's own statistics; the running
        # averages move with the first phase, towards those of the batch it reads.
        norm = ("update" if i == 0 else "batch") if args.batch_norm else None
        # Entering the current variable scope again keeps the count of the names made so far,
        # which reopening a network's scope resets: the optimisers' slots are then named as they
        # were when each phase had a call of its own (Encoder/e_dense_1/weights/Adam_2, ...),
        # and older checkpoints still load.
        with tf.control_dependencies(updates), tf.variable_scope(tf.get_variable_scope()):
            losses, codes = phase_losses(phase, g, args, norm, categorical_input, codes)
        updates = [optimiser(args, g, name, loss) for name, loss in losses.items()]
        # A phase that leaves the encoder as it was (the discriminators') hands its codes of the
        # unlabelled batch to the next one, which would compute the very same numbers again.
        if any("Encoder" in TRAINS[name][0] for name in phase):
            codes = None
        if i == 0:
            updates[0] = tf.group(updates[0], *tf.get_collection(tf.GraphKeys.UPDATE_OPS))
        g.losses.update(losses)
        g.train_ops.update(zip(losses, updates))
    g.train = tf.group(updates)  # the last phase's updates, which wait for all the others

    # What evaluation reads: the same paths from the clean images, which with --batch_norm
    # normalise by the running averages.
    eval_z, g.logits = encoder(g.x, args.z_dim, n_clusters, args.hidden_units,
                               reuse=tf.AUTO_REUSE, norm="running" if args.batch_norm else None)
    eval_y = tf.nn.softmax(g.logits)
    eval_reconstruction = decoder(eval_y, eval_z, args.z_dim, n_clusters, args.hidden_units,
                                  reuse=tf.AUTO_REUSE)
    g.generated = decoder(g.y_in, g.z_in, args.z_dim, n_clusters, args.hidden_units,
                          reuse=tf.AUTO_REUSE)
    g.mse = tf.reduce_mean(tf.square(g.x - eval_reconstruction))
    g.prediction = tf.argmax(g.logits, 1)
    g.summaries = summarise_graph(g, eval_z, eval_y, eval_reconstruction)
    g.saver = tf.train.Saver(max_to_keep=2)
    return g


def phase_losses(phase, g, args, norm, categorical_input, codes=None):
    """({loss name: loss} of one phase, the codes (z, label logits) of the unlabelled batch it
    read), from passes through the networks made for it alone; the encoder's pass is skipped
    when codes are given."""
    n_clusters, units = g.n_clusters, args.hidden_units
    if phase == ("supervised",):
        _, logits = encoder(g.x_labelled_encoder, args.z_dim, n_clusters, units,
                            reuse=tf.AUTO_REUSE, norm=norm)
        return {"supervised": tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(
            labels=g.y_labelled, logits=logits))}, None
    codes = codes or encoder(g.x_encoder, args.z_dim, n_clusters, units, reuse=tf.AUTO_REUSE,
                             norm=norm)
    z, y = codes[0], tf.nn.softmax(codes[1])
    if phase == ("reconstruction",):
        reconstruction = decoder(y, z, args.z_dim, n_clusters, units, reuse=tf.AUTO_REUSE)
        return {"reconstruction": tf.reduce_mean(tf.square(g.x - reconstruction))}, codes

    if args.pair_discriminator:
        # The Gaussian discriminator judges (z, label) pairs, a prior sample going with the label
        # the encoder gave the image (one-hot, and not a path for gradients). To pass, the codes
        # of every label must each look like the whole prior: z cannot tell the digit, which is
        # left to y, and the decoder must read y to draw it.
        label = tf.stop_gradient(tf.one_hot(tf.argmax(y, 1), n_clusters))
        gauss_real, gauss_fake = tf.concat([g.z_prior, label], 1), tf.concat([z, label], 1)
    else:  # the original: z alone, which may carry the digit as long as all codes look Gaussian
        gauss_real, gauss_fake = g.z_prior, z
    cat_real, cat_fake = g.y_prior, y
    if categorical_input is not None:
        cat_real, cat_fake = categorical_input(g.y_prior), categorical_input(y)
    d_gauss_fake = discriminator_gauss(gauss_fake, gauss_real.shape[1], units, reuse=tf.AUTO_REUSE)
    d_cat_fake = discriminator_cat(cat_fake, cat_real.shape[1], units, reuse=tf.AUTO_REUSE)
    if phase == ("generator",):
        return {"generator": cross_entropy(d_gauss_fake, 1) + cross_entropy(d_cat_fake, 1)}, codes
    d_gauss_real = discriminator_gauss(gauss_real, gauss_real.shape[1], units, reuse=True)
    d_cat_real = discriminator_cat(cat_real, cat_real.shape[1], units, reuse=True)
    losses = {"discriminator_gauss": cross_entropy(d_gauss_real, 1) + cross_entropy(d_gauss_fake, 0),
              # The original once labelled the encoder's y as real here (bug B3): prior 1, codes 0.
              "discriminator_cat": cross_entropy(d_cat_real, 1) + cross_entropy(d_cat_fake, 0)}
    return {name: losses[name] for name in phase}, codes


def placeholders(args, n_clusters):
    """What each iteration feeds the graph: its images, labels and number, and the rates."""
    g = types.SimpleNamespace(n_clusters=n_clusters)
    g.x = tf.placeholder(tf.float32, [None, INPUT_DIM], name="Input")
    g.x_labelled = tf.placeholder(tf.float32, [None, INPUT_DIM], name="Labelled_input")
    g.y_labelled = tf.placeholder(tf.float32, [None, n_clusters], name="Labels")
    # The iteration's number: with --seed it keys everything the iteration draws at random.
    g.step = tf.placeholder(tf.int64, [], name="Step")
    # Codes we feed ourselves to the decoder: the style x digit grid.
    g.z_in = tf.placeholder(tf.float32, [None, args.z_dim], name="Decoder_input_z")
    g.y_in = tf.placeholder(tf.float32, [None, n_clusters], name="Decoder_input_label")
    # Every optimiser's rate is multiplied by one of these, fed each iteration: 1, then 0.1 and
    # 0.01 late in training, the adversarial phases' at their own times (--adversarial_drops).
    g.decay = tf.placeholder_with_default(1.0, [], name="Learning_rate_decay")
    g.adversarial_decay = tf.placeholder_with_default(1.0, [], name="Adversarial_rate_decay")
    return g


# The random draws of an iteration, each from a stream of its own.
STREAMS = ("input_noise", "labelled_noise", "turns", "shifts", "prior_z", "prior_label")


def random_inputs(g, args):
    """What training reads at random, drawn in the graph: the noisy copy of x that the encoder
    sees (the decoder must rebuild the clean x), the labelled batch turned, shifted and noisy,
    and as many samples of the priors, z and one-hot labels, as x has images.

    Each draw is a stateless op seeded by --seed, the fed step and its stream: the training call
    of an iteration and its summaries' call see the same numbers, and a resumed run draws what an
    uninterrupted one did without a random state to save. Python feeds the batches and the step.
    """
    key = tf.stack([tf.constant(args.seed, tf.int64), g.step])
    seed = {name: tf.random.experimental.stateless_fold_in(key, i) for i, name in enumerate(STREAMS)}
    g.x_encoder = noisy(g.x, args.input_noise, seed["input_noise"])
    views = g.x_labelled
    # Clustering has no labelled images, nor the flags that turn and shift them.
    max_degrees, max_shift = getattr(args, "rotate", 0), getattr(args, "shift", 0)
    if max_degrees or max_shift:
        views = random_views(views, max_degrees, max_shift, seed["turns"], seed["shifts"])
    g.x_labelled_encoder = noisy(views, args.input_noise, seed["labelled_noise"])
    n = tf.shape(g.x)[0]
    g.z_prior = tf.random.stateless_normal([n, args.z_dim], seed["prior_z"], stddev=args.prior_std)
    g.y_prior = tf.one_hot(tf.random.stateless_uniform([n], seed["prior_label"], 0, g.n_clusters,
                                                       dtype=tf.int32), g.n_clusters)


def noisy(images, std, seed):
    """images with Gaussian noise of that std added to each pixel.

    The noise is made from uniform numbers by the Box-Muller transform: two uniform numbers
    u, v give two independent normal ones, sqrt(-2 log u) times cos and sin of 2 pi v. On a CPU
    that takes less than half the time of TensorFlow's own normal sampler, which works one number
    at a time where these element-wise ops work on many; an iteration draws 274,400 (the
    unlabelled batch's noise and the labelled batch's, once each).
    """
    if not std:
        return images
    half = [tf.shape(images)[0], INPUT_DIM // 2]  # the cos half of the pixels, then the sin half
    u, v = tf.unstack(tf.random.stateless_uniform([2, *half], seed, minval=2.0 ** -24))  # u > 0
    radius, angle = std * tf.sqrt(-2.0 * tf.math.log(u)), 2 * np.pi * v
    return images + tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=1)


def random_views(images, max_degrees, max_shift, turn_seed, shift_seed):
    """Each image turned by its own random angle of up to max_degrees either way, then moved by
    its own random whole number of pixels, up to max_shift either way, down and across."""
    n = tf.shape(images)[0]
    radians = max_degrees * np.pi / 180
    angles = tf.random.stateless_uniform([n], turn_seed, -radians, radians)
    offsets = tf.random.stateless_uniform([n, 2], shift_seed, -max_shift, max_shift + 1,
                                          dtype=tf.int32)
    return turn_and_shift(images, angles, tf.cast(offsets, tf.float32))


def turn_and_shift(images, angles, offsets):
    """Each image turned anticlockwise about its centre by its angle (radians), then moved by
    its (down, right) offset; its pixels read between the original's by bilinear interpolation,
    blank where they come from outside the picture.

    TensorFlow's transform op reads output pixel (column x, row y) from the input at (a0 x + a1 y
    + a2, b0 x + b1 y + b2). Turning and moving are one such map: the output pixel, moved back by
    the offset and turned back about the centre c, is where the input is read.
    """
    c = 13.5  # the centre of a 28 x 28 picture, in the pixel indices the op uses
    cos, sin = tf.cos(angles), tf.sin(angles)
    x0, y0 = c + offsets[:, 1], c + offsets[:, 0]  # where the centre goes
    zero = tf.zeros_like(angles)
    transforms = tf.stack([cos, -sin, c - cos * x0 + sin * y0,
                           sin, cos, c - sin * x0 - cos * y0, zero, zero], axis=1)
    turned = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.reshape(images, [-1, 28, 28, 1]), transforms=transforms,
        output_shape=[28, 28], fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
    return tf.reshape(turned, [-1, INPUT_DIM])


def optimiser(args, g, name, loss):
    """The training op of one loss: a step of its own Adam, on the networks that loss trains.

    Each loss moves only its own networks: the discriminators never learn to help the encoder
    fool them, and the label and style losses shape the encoder alone. The three adversarial
    losses take the smaller --adversarial_learning_rate.
    """
    scopes, adversarial = TRAINS[name]
    rate = (args.adversarial_learning_rate * g.adversarial_decay if adversarial
            else args.learning_rate * g.decay)
    return tf.train.AdamOptimizer(rate, beta1=args.beta1).minimize(
        loss, var_list=[v for scope in scopes for v in tf.trainable_variables(scope=scope)])


def summarise_graph(g, z, y, reconstruction):
    """The codes of the clean images beside their priors, and a few images, for TensorBoard (the
    losses are written from train_step's values: a loss of a later phase waits for the updates
    of the phases before it)."""
    tf.summary.histogram("Distributions/encoder_z", z)
    tf.summary.histogram("Distributions/prior_z", g.z_prior)
    tf.summary.histogram("Distributions/encoder_label", y)
    tf.summary.histogram("Distributions/prior_label", g.y_prior)
    tf.summary.image("Images/input", tf.reshape(g.x, [-1, 28, 28, 1]), max_outputs=10)
    tf.summary.image("Images/reconstruction", tf.reshape(reconstruction, [-1, 28, 28, 1]),
                     max_outputs=10)
    return tf.summary.merge_all()


def train_step(sess, g, feed):
    """One iteration, one session call: the phases in order, each a step of its own optimisers.

    Returns each loss by name, as computed just before its own update.
    """
    _, losses = sess.run([g.train, g.losses], feed_dict=feed)
    return losses


def prior_styles(args, n):
    """n style codes from N(0, prior_std^2 I), the same ones for a seed."""
    return np.random.RandomState(args.seed).normal(0.0, args.prior_std, (n, args.z_dim)).astype(
        np.float32)


def learning_rate_decay(args, epoch, drops=LR_DROPS):
    """What a learning rate is multiplied by: 0.1 for each of drops (fractions of --epochs)
    passed."""
    return 0.1 ** sum(epoch >= f * args.epochs for f in drops)


def next_feed(g, unlabelled, labelled, args, step, epoch=0):
    """The feed of iteration `step`, in the given epoch: unlabelled images, a labelled batch
    (unless labelled is None: clustering), the learning-rate decays and the step, from which the
    graph draws the rest (see random_inputs)."""
    feed = {g.step: step, g.x: unlabelled.next_batch(args.batch_size)[0],
            g.decay: learning_rate_decay(args, epoch),
            g.adversarial_decay: learning_rate_decay(args, epoch, args.adversarial_drops)}
    if labelled is not None:
        feed[g.x_labelled], feed[g.y_labelled] = labelled.next_batch(args.labelled_batch_size)
    return feed


def train(args, model=MODEL, phases=PHASES):
    """Train a run of the phases given into Results/<model>/, then measure it on the test images
    (the labelled-only baseline trains its one phase into a folder of its own)."""
    resumed = runs.to_resume(args, model)  # first: the labelled set depends on its flags
    check_flags(args)
    data = mnist.load(args.data_dir, args.seed)
    labelled, unlabelled = mnist.split_labelled(data.train, args.n_labels, args.seed)
    run = runs.start(args, model, resumed, unlabelled, labelled)
    digit_judge = judge.load(args.data_dir)
    g = build_graph(args, phases)
    with tf.Session(config=precision.session_config(args.precision)) as sess:
        def evaluate():
            return (accuracy(sess, g, data.validation),
                    quality(sess, g, args, digit_judge, QUALITY_STYLES_PER_EPOCH))
        step, losses, train_seconds = train_loop(sess, g, run, args, data, unlabelled, labelled,
                                                 evaluate)
        judged = quality(sess, g, args, digit_judge, QUALITY_STYLES)
        metrics = {"n_labels": args.n_labels,
                   "validation_accuracy": accuracy(sess, g, data.validation),
                   "test_accuracy": accuracy(sess, g, data.test),
                   **{f"train_loss_{k}": float(v) for k, v in losses.items()},
                   **judged, "quality_styles": QUALITY_STYLES, "train_seconds": train_seconds}
        run.write_metrics(metrics, args, step, unlabelled.num_examples // args.batch_size)
        run.log(f"Done: validation accuracy {metrics['validation_accuracy']:.4f}, test accuracy "
                f"{metrics['test_accuracy']:.4f}.\n{judge.describe(judged, JUDGED)}\n"
                f"Draw the figures with: python {os.path.basename(sys.argv[0])} --train False")


def train_loop(sess, g, run, args, data, unlabelled, labelled, evaluate):
    """Train from the start, or from the checkpoint of a resumed run, to the last step; save and
    summarise each epoch. evaluate() returns the epoch's (validation accuracy, judge's scores).

    Returns the last step, its losses and the seconds it all took.
    """
    steps_per_epoch = unlabelled.num_examples // args.batch_size
    # The batches' order: all else random is drawn in the graph from the step. A checkpoint of
    # an earlier version also holds the state of the numpy generator that drew it in Python; it
    # is not read, and such a run goes on with the graph's draws.
    random_sources = {name: source for name, source in (
        ("unlabelled", unlabelled), ("labelled", labelled)) if source is not None}
    writer = tf.summary.FileWriter(run.tensorboard, graph=sess.graph)
    sess.run(tf.global_variables_initializer())
    start = run.restore(sess, g.saver, **random_sources) if args.resume else 0
    summaries.drop_after(writer, start)  # a resume overwrites what came after
    if not args.resume:
        run.log(f"{labelled.num_examples if labelled else 0} labelled and "
                f"{unlabelled.num_examples} unlabelled training images; {steps_per_epoch} "
                "iterations an epoch")
    step, losses, started = start, {}, time.time()
    for step in run.steps(start, args, steps_per_epoch):
        feed = next_feed(g, unlabelled, labelled, args, step, step // steps_per_epoch)
        losses = train_step(sess, g, feed)
        run.check_finite(step, **losses)
        with run.outside_training():
            if step % LOG_EVERY == 0:
                writer.add_summary(sess.run(g.summaries, feed_dict=feed), step)
                summaries.scalars(writer, step, **{f"Loss/{k}": v for k, v in losses.items()})
                run.log(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in losses.items()),
                        echo=False)
        step += 1
        if step % steps_per_epoch == 0:
            with run.outside_training():
                validation = summarise_epoch(sess, g, writer, step, data, args, evaluate)
                run.save(sess, g.saver, step, **random_sources)
            run.log(f"epoch {step // steps_per_epoch}/{args.epochs}: validation accuracy "
                    f"{validation:.4f}, " + ", ".join(
                        f"{name} {losses[name]:.4f}" for name in ("reconstruction", "supervised")
                        if name in losses) + f", learning rates x{feed[g.decay]:g} "
                    f"(adversarial x{feed[g.adversarial_decay]:g}) ({run.epoch_time()})")
    if step % steps_per_epoch:  # stopped mid-epoch (--max_steps or Ctrl-C): keep that too
        summarise_epoch(sess, g, writer, step, data, args, evaluate)
        run.save(sess, g.saver, step, **random_sources)
    writer.close()
    run.exit_if_interrupted(step)
    return step, losses, round(time.time() - started, 1)


def accuracy(sess, g, dataset):
    """The share of dataset's images whose most likely label is the true digit."""
    predicted = sess.run(g.prediction, feed_dict={g.x: dataset.images})
    return float(np.mean(predicted == dataset.labels.argmax(1)))


def style_grid(sess, g, args, n_styles=N_CLASSES):
    """Decode n_styles styles from the prior (the same ones for a seed) as every digit (cluster).

    Row r is one style z, shared by the whole row; column c is digit c. Returns the images, row
    after row.
    """
    grid_z = np.repeat(prior_styles(args, n_styles), g.n_clusters, axis=0)
    grid_y = np.tile(np.eye(g.n_clusters), (n_styles, 1))
    return sess.run(g.generated, feed_dict={g.z_in: grid_z, g.y_in: grid_y})


def quality(sess, g, args, digit_judge, n_styles):
    """The judge's verdict on n_styles prior styles, each decoded as every digit: how often the
    digit drawn is the digit asked for, in how many rows all ten are, how often it is clearly a
    digit."""
    return digit_judge.score_grid(style_grid(sess, g, args, n_styles))


def summarise_epoch(sess, g, writer, step, data, args, evaluate):
    """Validation accuracy, test reconstruction error, the judge's scores and the style x digit
    grid, for TensorBoard; returns the accuracy.

    One grid an epoch lets a reader scrub through training in TensorBoard's Images tab.
    """
    validation, judged = evaluate()
    mse = sess.run(g.mse, feed_dict={g.x: data.test.images[:EPOCH_TEST_IMAGES]})
    summaries.scalars(writer, step, **{"Accuracy/validation": validation,
                                       "Test/reconstruction_mse": mse},
                      **{f"Quality/{k}": v for k, v in judged.items()})
    summaries.image(writer, step, "Images/style_grid",
                    figures.tile(style_grid(sess, g, args), N_CLASSES, g.n_clusters))
    return validation


def draw(args, model=MODEL, phases=PHASES):
    """Restore a run and save its figures: the style x digit grid, the test confusion matrix and
    the validation accuracy of each epoch."""
    run = runs.Run.find(args, model, args.run)
    run.adopt_args(args)
    check_flags(args)
    data = mnist.load(args.data_dir, args.seed)
    g = build_graph(args, phases)
    plt = figures.pyplot()
    with tf.Session(config=precision.session_config(args.precision)) as sess:
        step = run.restore(sess, g.saver)
        print(f"Loaded {run.path} (step {step})")
        predicted = sess.run(g.prediction, feed_dict={g.x: data.test.images})
        grid = style_grid(sess, g, args)
        judged = quality(sess, g, args, judge.load(args.data_dir), QUALITY_STYLES)
        print(judge.describe(judged, JUDGED))

    digits = data.test.labels.argmax(1)
    test_accuracy = float(np.mean(predicted == digits))
    print(f"Test accuracy: {test_accuracy:.4f} ({np.sum(predicted != digits)} of "
          f"{len(digits)} test images misclassified)")
    draw_digits(plt, run, args, step, grid, digits, predicted, test_accuracy)
    steps_per_epoch = (data.train.num_examples - args.n_labels) // args.batch_size
    draw_accuracy_curve(plt, run, steps_per_epoch, step, test_accuracy, f"{args.n_labels} labels")
    figures.show_all()


def draw_digits(plt, run, args, step, grid, digits, predicted, test_accuracy):
    """style_digit_grid.png and confusion_matrix.png."""
    grid = figures.tile(grid, N_CLASSES, N_CLASSES)

    fig, ax = plt.subplots(figsize=(8, 8))
    ax.imshow(grid, cmap="gray",
              extent=(-0.5, N_CLASSES - 0.5, N_CLASSES - 0.5, -0.5))
    ax.set(title=f"Decoder output: one style z ~ N(0, {args.prior_std:g}²I) per row, one digit per column",
           xlabel="digit (the label given to the decoder)", ylabel="style sample",
           xticks=range(N_CLASSES), yticks=range(N_CLASSES))
    figures.save(fig, os.path.join(run.path, "style_digit_grid.png"))

    confusion = np.zeros((N_CLASSES, N_CLASSES), dtype=int)
    np.add.at(confusion, (digits, predicted), 1)
    fig, ax = plt.subplots(figsize=(8, 7))
    figures.counts(ax, confusion)
    ax.set(title=f"Test confusion matrix: accuracy {100 * test_accuracy:.2f}% "
                 f"({args.n_labels} labels, step {step})",
           xlabel="predicted digit", ylabel="true digit",
           xticks=range(N_CLASSES), yticks=range(N_CLASSES))
    figures.save(fig, os.path.join(run.path, "confusion_matrix.png"))


def draw_accuracy_curve(plt, run, steps_per_epoch, step, test_accuracy, about):
    """accuracy_curve.png: validation accuracy after each epoch, read back from TensorBoard."""
    steps, validation = run.scalars("Accuracy/validation")
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(steps / steps_per_epoch, 100 * validation, marker="o", label="validation, each epoch")
    ax.axhline(100 * test_accuracy, color="tab:green", linestyle="--",
               label=f"test, step {step}: {100 * test_accuracy:.2f}%")
    ax.set(title=f"Classification accuracy during training ({about})",
           xlabel="epoch (passes over the unlabelled images)", ylabel="accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    figures.save(fig, os.path.join(run.path, "accuracy_curve.png"))


def check_flags(args):
    if args.n_labels <= 0:
        raise common.UserError("--n_labels must be above 0; to cluster without labels: python "
                               "semi_supervised_aae_clustering.py --train True")
    if args.labelled_batch_size > args.n_labels:
        if "labelled_batch_size" in args.given:
            raise common.UserError(f"--labelled_batch_size {args.labelled_batch_size} is more than "
                                   f"the {args.n_labels} labelled images (--n_labels).")
        args.labelled_batch_size = args.n_labels  # fewer labels than the default batch: all of them


def arg_parser(doc=__doc__):
    """The lesson's flags; semi_supervised_aae_labels_only.py reads the same ones."""
    parser = flags.arg_parser(doc, z_dim=Z_DIM, epochs=EPOCHS)
    parser.add_argument("--n_labels", type=int, default=1000,
                        help="labelled training images, the same number of each digit")
    add_model_flags(parser, BATCH_NORM)
    parser.add_argument("--labelled_batch_size", type=flags.positive(int),
                        default=LABELLED_BATCH_SIZE,
                        help="labelled images in each supervised step (--batch_size counts the "
                             "unlabelled ones); if not given, at most --n_labels")
    parser.add_argument("--shift", type=int, choices=range(0, 5), default=SHIFT,
                        help="labelled images are moved by up to this many pixels, at random, "
                             "each time they are used (0: never)")
    parser.add_argument("--rotate", type=flags.degrees, default=ROTATE,
                        help="labelled images are turned by up to this many degrees either way, "
                             "at random, each time they are used, before their shift (0: never)")
    return parser


def add_model_flags(parser, batch_norm):
    """The flags of the networks and their training, which clustering shares."""
    parser.add_argument("--adversarial_learning_rate", type=flags.positive(float),
                        default=ADVERSARIAL_LEARNING_RATE,
                        help="Adam's learning rate for the two discriminators and the generator "
                             "(--learning_rate drives reconstruction and the supervised phase)")
    parser.add_argument("--adversarial_drops", type=flags.fraction, nargs="*",
                        default=list(ADVERSARIAL_DROPS), metavar="FRACTION",
                        help="fractions of --epochs after which the adversarial rate is divided by "
                             "10 (the other rates: after %s; no fraction: never)"
                             % ", ".join(map(str, LR_DROPS)))
    parser.add_argument("--input_noise", type=flags.non_negative, default=INPUT_NOISE,
                        help="std of the Gaussian noise added to the encoder's input in training "
                             "(0: none, as in the original)")
    parser.add_argument("--prior_std", type=flags.positive(float), default=PRIOR_STD,
                        help="the style prior is N(0, prior_std^2 I) (the original: 5)")
    parser.add_argument("--pair_discriminator", type=flags.boolean, nargs="?", const=True,
                        default=PAIR_DISCRIMINATOR,
                        help="the Gaussian discriminator judges (z, predicted label) pairs against "
                             "(prior sample, the same label) instead of z alone (the original)")
    parser.add_argument("--batch_norm", type=flags.boolean, nargs="?", const=True,
                        default=batch_norm,
                        help="batch normalisation of the encoder's two hidden layers (evaluation "
                             "uses running averages of the training batches' statistics)")


if __name__ == "__main__":
    common.main(arg_parser(), train, draw)
