"""Part 2: an adversarial autoencoder makes the codes of MNIST digits follow a Gaussian we choose.

Part 1's codes landed wherever the autoencoder liked, so nobody could say which points of the
code plane decode to a digit. Here a third network, the discriminator, is shown two kinds of
points: samples of the prior p(z) = N(0, 5^2 I), labelled "real", and the encoder's codes of
training images, labelled "fake". The encoder is then trained to fool it. The only way to fool a
good discriminator is for the codes, taken over the whole data set, to be spread like the prior;
then every point the prior is likely to produce decodes to something that looks like a digit,
and the decoder becomes a generator: draw z from N(0, 5^2 I), decode, get a digit.

Every batch trains three things, in this order, each with its own Adam optimiser:

1. reconstruction: encoder and decoder minimise the mean squared error, as in part 1;
2. discriminator: learns to output 1 on prior samples and 0 on the encoder's codes;
3. generator: the encoder alone learns to make the discriminator output 1 on its codes.

    python adversarial_autoencoder.py --train True     # train; prints the run folder
    python adversarial_autoencoder.py --train False    # load the newest run, save its figures
    tensorboard --logdir Results                       # losses, code histograms, images

The figures: `latent_grid.png` decodes a 14x14 grid covering about two standard deviations of
the prior; `latent_scatter.png` puts the codes of the 10,000 test images over samples of the
prior, so you can see whether they fill the same disc; `reconstructions.png` shows test images
and their reconstructions.

Other priors (the paper's figures): `--prior mixture` (10 Gaussians on a circle) or
`--prior swiss_roll`; `--use_labels True` also tells the discriminator which of the prior's 10
parts a sample comes from, and which digit a code belongs to (a one-hot scaled up,
`--label_scale`), so that each digit takes its own part. To place its codes the encoder must read
the digit, and on the mixture it places them better when it sees a noisy copy of its input
(`--input_noise`, 0.3 there). The digit judge (common/judge.py) scores how many decoded prior
samples look clearly like digits. With `--z_dim 8`, the paper's setting, `--train False` also
estimates the Parzen-window log-likelihood of the test images (parzen.json).

Networks: encoder 784 -> 1000 -> 1000 -> z (2), decoder z -> 1000 -> 1000 -> 784 (sigmoid),
discriminator z -> 1000 -> 1000 -> 1 (a logit); ReLU hidden layers. Adam (learning rate 0.001,
beta1 0.9) for each of the three losses, batches of 100.
"""
import json
import os
import time
import types

import numpy as np

import common  # first: it sets up TensorFlow (oneDNN, graph mode) before TensorFlow loads
import tensorflow.compat.v1 as tf
from common import figures, flags, judge, likelihood, mnist, precision, runs, summaries

MODEL = "Adversarial_Autoencoder"
INPUT_DIM = 784
N_L1 = 1000
N_L2 = 1000
Z_DIM = 2
PRIOR_STD = 5.0  # the Gaussian prior is N(0, PRIOR_STD^2 I)
# The other priors of the paper's figures, both 2-D and made of N_COMPONENTS parts, one per digit.
# Their sizes are ours, chosen to cover about the same disc as the Gaussian (radius ~10).
N_COMPONENTS = 10
MIXTURE_RADIUS = 6.0  # the mixture's Gaussians are centred on a circle of this radius,
MIXTURE_STD_ALONG, MIXTURE_STD_ACROSS = 2.0, 0.5  # stretched along the radius, narrow across it
ROLL_TURNS, ROLL_RADIUS, ROLL_NOISE = 2.0, 10.0, 0.3  # the swiss roll: 2 turns out to radius 10
SPINE_POINTS = 2000  # points of the roll's spine used to find a code's segment
# With --use_labels the discriminator reads a one-hot beside z. Beside coordinates of 5 to 10 a
# plain one-hot of 0s and 1s is a faint signal, and the codes of a digit spill out of its part
# (mostly into the centre, where the parts meet); scaled up it is heard. Validation codes in
# their own part, 10 epochs, median of seeds 0-2: mixture 93.9 % scaled by 5 (test 92.7 against
# 90.5 % with the plain one-hot); 94.6 % by 10, but on the swiss roll a scale of 10 left one seed
# of three with 78 % (5: 91.4 %), and by 20 the mixture failed the same way (README).
LABEL_SCALE = 5.0  # default of --label_scale
# With --use_labels the encoder must in effect read each digit to put its code in its digit's
# part. On the mixture, noise on its input (std 0.3, the paper's for part 4; the decoder still
# rebuilds the clean image) made it place them better: 20 epochs, seeds 0-2, validation codes in
# their own component 96.6 % (median) against 94.3 % without (test 95.6 against 93.7 %). On the
# swiss roll, whose segments are thin and wind next to each other, it placed them worse (93.7 ->
# 91.3 %), so there, as without labels, the default stays the original's: no noise (README).
MIXTURE_INPUT_NOISE = 0.3  # default of --input_noise with --prior mixture --use_labels True
PRIOR_NAMES = {"gaussian": f"N(0, {PRIOR_STD:g}\u00b2 I)",
               "mixture": f"{N_COMPONENTS} Gaussians on a circle",
               "swiss_roll": f"a swiss roll of {N_COMPONENTS} segments"}
LOG_EVERY = 50  # iterations between log lines and TensorBoard summaries
# Each epoch's test error, for TensorBoard, is measured on the first EPOCH_TEST_IMAGES test images:
# enough for the curve, at a fifth of the cost; the final figure in metrics.json uses all 10,000.
EPOCH_TEST_IMAGES = 2000
GRID_POINTS = np.arange(-10, 10, 1.5)  # 14 values per axis: about two prior std either side
SCATTER_PRIOR_SAMPLES = 10000
# The likelihood experiment of the paper's Table 1, made by --train False on runs of 8 or more
# code dimensions (the paper's --z_dim 8): for the 2-D lesson it would only slow the pictures.
PARZEN_MIN_Z_DIM = 8
PARZEN_SAMPLES = 10000
QUALITY_SAMPLES = 10000  # prior samples the digit judge scores at the end
JUDGED = f"{QUALITY_SAMPLES} prior samples decoded"  # what they are taken over
QUALITY_SAMPLES_PER_EPOCH = 1000  # and after each epoch, for TensorBoard's Quality/ section


def dense(x, n_in, n_out, name):
    """A fully connected layer, x @ W + b, whose variables live in its own scope."""
    with tf.variable_scope(name, reuse=None):
        weights = tf.get_variable("weights", [n_in, n_out],
                                  initializer=tf.random_normal_initializer(mean=0.0, stddev=0.01))
        bias = tf.get_variable("bias", [n_out], initializer=tf.constant_initializer(0.0))
        return tf.add(tf.matmul(x, weights), bias, name="matmul")


def encoder(x, z_dim, reuse=False):
    """Image (784) -> code z (z_dim), linear at the end so z can reach the prior's whole range."""
    with tf.variable_scope("Encoder", reuse=reuse):
        e_1 = tf.nn.relu(dense(x, INPUT_DIM, N_L1, "e_dense_1"))
        e_2 = tf.nn.relu(dense(e_1, N_L1, N_L2, "e_dense_2"))
        return dense(e_2, N_L2, z_dim, "e_latent_variable")


def decoder(z, z_dim, reuse=False):
    """Code z -> image (784), squashed by a sigmoid into the pixels' range [0, 1]."""
    with tf.variable_scope("Decoder", reuse=reuse):
        d_1 = tf.nn.relu(dense(z, z_dim, N_L2, "d_dense_1"))
        d_2 = tf.nn.relu(dense(d_1, N_L2, N_L1, "d_dense_2"))
        return tf.nn.sigmoid(dense(d_2, N_L1, INPUT_DIM, "d_output"))


def discriminator(z, n_in, reuse=False):
    """Code z -> one logit: large when z looks like a sample of the prior, small for a code."""
    with tf.variable_scope("Discriminator", reuse=reuse):
        dc_1 = tf.nn.relu(dense(z, n_in, N_L1, "dc_dense_1"))
        dc_2 = tf.nn.relu(dense(dc_1, N_L1, N_L2, "dc_dense_2"))
        return dense(dc_2, N_L2, 1, "dc_output")


def build_graph(args):
    """Placeholders, the three networks, their three losses and optimisers, the summaries."""
    tf.reset_default_graph()
    tf.set_random_seed(args.seed)
    x = tf.placeholder(tf.float32, [None, INPUT_DIM], name="Input")
    # Prior samples come from numpy, not from a TensorFlow op, so that one seeded RandomState
    # holds all of the prior's randomness and a resumed run can continue it exactly.
    prior_z = tf.placeholder(tf.float32, [None, args.z_dim], name="Prior_samples")
    z_in = tf.placeholder(tf.float32, [None, args.z_dim], name="Decoder_input")
    # With --use_labels: which component each prior sample came from, and which digit each
    # image is, both one-hot.
    prior_component = tf.placeholder(tf.float32, [None, N_COMPONENTS], name="Prior_component")
    label = tf.placeholder(tf.float32, [None, N_COMPONENTS], name="Labels")

    # With --input_noise the encoder sees a noisy copy of x (fed here) and the decoder must
    # rebuild the clean x; codes for the figures and the metrics come from x itself.
    x_encoder = tf.placeholder_with_default(x, [None, INPUT_DIM], name="Encoder_input")
    z = encoder(x_encoder, args.z_dim)
    reconstruction = decoder(z, args.z_dim)
    generated = decoder(z_in, args.z_dim, reuse=True)
    if args.use_labels:
        # The discriminator is told which component a sample should come from: digit d's codes
        # pass only if they look like samples of component d. The one-hots are scaled up, so
        # that they are not drowned beside the codes' larger numbers (see LABEL_SCALE).
        real = tf.concat([prior_z, args.label_scale * prior_component], 1)
        fake = tf.concat([z, args.label_scale * label], 1)
    else:
        real, fake = prior_z, z
    # One discriminator judges both kinds of points: the second call shares the first's weights.
    d_real = discriminator(real, real.shape[1])
    d_fake = discriminator(fake, real.shape[1], reuse=True)

    def cross_entropy(logits, label):
        target = tf.ones_like(logits) if label else tf.zeros_like(logits)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits))

    reconstruction_loss = tf.reduce_mean(tf.square(x - reconstruction))
    discriminator_loss = cross_entropy(d_real, 1) + cross_entropy(d_fake, 0)
    # The encoder's half of the game: the same discriminator, with its codes called real.
    generator_loss = cross_entropy(d_fake, 1)

    # Each phase moves only its own networks: the generator step must not train the
    # discriminator to be fooled, nor the discriminator step move the codes it judges.
    encoder_vars = tf.trainable_variables(scope="Encoder")
    decoder_vars = tf.trainable_variables(scope="Decoder")
    discriminator_vars = tf.trainable_variables(scope="Discriminator")

    def adam():
        return tf.train.AdamOptimizer(args.learning_rate, beta1=args.beta1)

    reconstruction_op = adam().minimize(reconstruction_loss, var_list=encoder_vars + decoder_vars)
    discriminator_op = adam().minimize(discriminator_loss, var_list=discriminator_vars)
    generator_op = adam().minimize(generator_loss, var_list=encoder_vars)

    tf.summary.scalar("Loss/reconstruction", reconstruction_loss)
    tf.summary.scalar("Loss/discriminator", discriminator_loss)
    tf.summary.scalar("Loss/generator", generator_loss)
    tf.summary.histogram("Distributions/encoder_z", z)
    tf.summary.histogram("Distributions/prior_z", prior_z)
    tf.summary.image("Images/input", tf.reshape(x, [-1, 28, 28, 1]), max_outputs=10)
    tf.summary.image("Images/reconstruction", tf.reshape(reconstruction, [-1, 28, 28, 1]),
                     max_outputs=10)
    return types.SimpleNamespace(
        x=x, x_encoder=x_encoder, prior_z=prior_z, prior_component=prior_component, label=label,
        z_in=z_in, z=z,
        discriminator_real=real, discriminator_fake=fake,
        reconstruction=reconstruction, generated=generated,
        reconstruction_loss=reconstruction_loss, discriminator_loss=discriminator_loss,
        generator_loss=generator_loss, reconstruction_op=reconstruction_op,
        discriminator_op=discriminator_op, generator_op=generator_op,
        encoder_vars=encoder_vars, decoder_vars=decoder_vars, discriminator_vars=discriminator_vars,
        summaries=tf.summary.merge_all(), saver=tf.train.Saver(max_to_keep=2))


def sample_prior(rng, n, args):
    """n samples of the chosen prior, and the component (mixture) or segment (swiss roll) of each."""
    if args.prior == "gaussian":
        return rng.randn(n, args.z_dim).astype(np.float32) * PRIOR_STD, np.zeros(n, int)
    component = rng.randint(0, N_COMPONENTS, n)
    if args.prior == "mixture":
        # A Gaussian stretched along the radius, turned to its component's angle on the circle.
        along = MIXTURE_RADIUS + MIXTURE_STD_ALONG * rng.randn(n)
        across = MIXTURE_STD_ACROSS * rng.randn(n)
        angle = 2 * np.pi * component / N_COMPONENTS
        z = np.stack([along * np.cos(angle) - across * np.sin(angle),
                      along * np.sin(angle) + across * np.cos(angle)], axis=1)
    else:
        # A point of the spine, in the component's tenth of its length, blurred a little.
        z = roll((component + rng.rand(n)) / N_COMPONENTS) + ROLL_NOISE * rng.randn(n, 2)
    return z.astype(np.float32), component


def roll(position):
    """Points of the swiss roll's spine at positions in [0, 1] from its centre to its end.

    Angle and radius grow with the square root of the position, so equal lengths of position
    cover about equal areas of the plane.
    """
    angle = 2 * np.pi * ROLL_TURNS * np.sqrt(position)
    radius = ROLL_RADIUS * np.sqrt(position)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


def components_of(codes, args):
    """The component each code most likely belongs to: for the mixture, the Gaussian of highest
    density; for the swiss roll, the segment of the nearest point of its spine."""
    if args.prior == "mixture":
        angle = 2 * np.pi * np.arange(N_COMPONENTS) / N_COMPONENTS
        along = codes[:, :1] * np.cos(angle) + codes[:, 1:2] * np.sin(angle)
        across = -codes[:, :1] * np.sin(angle) + codes[:, 1:2] * np.cos(angle)
        log_density = (-((along - MIXTURE_RADIUS) / MIXTURE_STD_ALONG) ** 2
                       - (across / MIXTURE_STD_ACROSS) ** 2)
        return log_density.argmax(1)
    spine = roll((np.arange(SPINE_POINTS) + 0.5) / SPINE_POINTS)
    nearest = np.concatenate([((part[:, None, :] - spine[None]) ** 2).sum(-1).argmin(1)
                              for part in np.array_split(codes, max(1, len(codes) // 500))])
    return nearest * N_COMPONENTS // SPINE_POINTS


def posterior_match(codes, digits, args):
    """How the test codes sit in the prior, for metrics.json: per-dimension mean and std (a
    matched Gaussian posterior has 0 and PRIOR_STD), or the share of codes in each component
    (1/10 each when matched) and, with --use_labels, the share that landed in their digit's."""
    if args.prior == "gaussian":
        return {"test_code_mean": codes.mean(0).tolist(), "test_code_std": codes.std(0).tolist(),
                "prior_std": PRIOR_STD}
    components = components_of(codes, args)
    match = {"component_shares": (np.bincount(components, minlength=N_COMPONENTS) / len(codes)).tolist()}
    if args.use_labels:
        match["label_match"] = float(np.mean(components == digits))
    return match


def check_prior(args):
    if args.prior != "gaussian" and args.z_dim != 2:
        raise common.UserError(f"--prior {args.prior} is a prior of 2-D codes: use --z_dim 2.")
    if args.use_labels and args.prior == "gaussian":
        raise common.UserError("--use_labels needs a prior made of components, one per digit: "
                               "--prior mixture or --prior swiss_roll.")
    if "label_scale" in args.given and not args.use_labels:
        raise common.UserError("--label_scale scales the labels that --use_labels True shows the "
                               "discriminator: give both, or neither.")
    if args.input_noise is None:  # the default: see MIXTURE_INPUT_NOISE
        mixture_with_labels = args.use_labels and args.prior == "mixture"
        args.input_noise = MIXTURE_INPUT_NOISE if mixture_with_labels else 0.0


def next_feed(g, data, args, prior):
    """The feed of one iteration: a training batch and a fresh batch of prior samples (and,
    with --input_noise, the noisy copy of the batch the encoder sees; drawn from the prior's
    RandomState, so a resumed run draws the same)."""
    images, labels = data.train.next_batch(args.batch_size)
    z, component = sample_prior(prior, args.batch_size, args)
    feed = {g.x: images, g.label: labels, g.prior_z: z,
            g.prior_component: np.eye(N_COMPONENTS, dtype=np.float32)[component]}
    if args.input_noise:
        feed[g.x_encoder] = images + prior.normal(0.0, args.input_noise, images.shape).astype(
            np.float32)
    return feed


def train_step(sess, g, feed):
    """One iteration: the three phases in order; returns their losses by name."""
    _, reconstruction = sess.run([g.reconstruction_op, g.reconstruction_loss], feed_dict=feed)
    _, discriminator = sess.run([g.discriminator_op, g.discriminator_loss], feed_dict=feed)
    _, generator = sess.run([g.generator_op, g.generator_loss], feed_dict=feed)
    return {"reconstruction": reconstruction, "discriminator": discriminator, "generator": generator}


def evaluate(sess, g, data, n=None):
    """(reconstruction MSE, codes, reconstructions) of the first n test images (all by default)."""
    mse, codes, recon = sess.run([g.reconstruction_loss, g.z, g.reconstruction],
                                 feed_dict={g.x: data.test.images[:n]})
    return float(mse), codes, recon


def latent_grid(sess, g, z_dim):
    """Decode the grid GRID_POINTS x GRID_POINTS of the first two code dimensions (others 0).

    Unlike part 1 the grid's range is fixed in advance: the prior says where codes must be.
    Rows run from high z[1] at the top to low at the bottom, like a plot's y axis.
    """
    grid_z = np.zeros((len(GRID_POINTS) ** 2, z_dim), np.float32)
    grid_z[:, :2] = [(x, y) for y in GRID_POINTS[::-1] for x in GRID_POINTS]
    return sess.run(g.generated, feed_dict={g.z_in: grid_z})


def train(args):
    resumed = runs.to_resume(args, MODEL)
    check_prior(args)
    data = mnist.load(args.data_dir, args.seed)
    run = runs.start(args, MODEL, resumed, data.train)
    digit_judge = judge.load(args.data_dir)
    g = build_graph(args)
    steps_per_epoch = data.train.num_examples // args.batch_size
    prior = np.random.RandomState(args.seed)

    with tf.Session(config=precision.session_config(args.precision)) as sess:
        writer = tf.summary.FileWriter(run.tensorboard, graph=sess.graph)
        sess.run(tf.global_variables_initializer())
        start = run.restore(sess, g.saver, train=data.train, prior=prior) if args.resume else 0
        summaries.drop_after(writer, start)  # a resume overwrites what came after
        step, losses, started = start, {}, time.time()
        for step in run.steps(start, args, steps_per_epoch):
            feed = next_feed(g, data, args, prior)
            losses = train_step(sess, g, feed)
            run.check_finite(step, **losses)
            with run.outside_training():
                if step % LOG_EVERY == 0:
                    writer.add_summary(sess.run(g.summaries, feed_dict=feed), step)
                    run.log(f"step {step}: reconstruction loss {losses['reconstruction']:.5f}, "
                            f"discriminator loss {losses['discriminator']:.4f}, "
                            f"generator loss {losses['generator']:.4f}", echo=False)
            step += 1
            if step % steps_per_epoch == 0:
                with run.outside_training():
                    mse = evaluate(sess, g, data, EPOCH_TEST_IMAGES)[0]
                    summaries.scalars(writer, step, **{"Test/reconstruction_mse": mse}, **{
                        f"Quality/{k}": v for k, v in
                        quality(sess, g, args, digit_judge, QUALITY_SAMPLES_PER_EPOCH).items()})
                    # One picture an epoch: scrub through them in TensorBoard's Images tab.
                    n = len(GRID_POINTS)
                    summaries.image(writer, step, "Images/latent_grid",
                                    figures.tile(latent_grid(sess, g, args.z_dim), n, n))
                    run.save(sess, g.saver, step, train=data.train, prior=prior)
                run.log(f"epoch {step // steps_per_epoch}/{args.epochs}: reconstruction loss "
                        f"{losses['reconstruction']:.5f}, discriminator loss "
                        f"{losses['discriminator']:.4f}, generator loss {losses['generator']:.4f}, "
                        f"test reconstruction MSE {mse:.5f} ({run.epoch_time()})")
        if step % steps_per_epoch:  # stopped mid-epoch (--max_steps or Ctrl-C): keep that too
            run.save(sess, g.saver, step, train=data.train, prior=prior)
        writer.close()
        run.exit_if_interrupted(step)

        train_seconds = round(time.time() - started, 1)
        mse, codes, _ = evaluate(sess, g, data)
        match = posterior_match(codes, data.test.labels.argmax(1), args)
        judged = quality(sess, g, args, digit_judge, QUALITY_SAMPLES)
        metrics = {**{f"train_{name}_loss": float(value) for name, value in losses.items()},
                   "test_reconstruction_mse": mse, "prior": args.prior, **match,
                   **judged, "quality_samples": QUALITY_SAMPLES, "train_seconds": train_seconds}
        run.write_metrics(metrics, args, step, steps_per_epoch)
        run.log(f"Done: test reconstruction MSE {mse:.5f}; {describe_match(match)}.\n"
                f"{judge.describe(judged, JUDGED)}\nDraw the figures with: "
                f"python {os.path.basename(__file__)} --train False")


def describe_match(match):
    if "test_code_std" in match:
        return (f"test codes per dimension: mean {runs.numbers(match['test_code_mean'])}, std "
                f"{runs.numbers(match['test_code_std'])} (the prior's: 0 and {PRIOR_STD:g})")
    text = f"share of test codes per component {runs.numbers(match['component_shares'])} (the prior's: 0.10 each)"
    if "label_match" in match:
        text += f"; {100 * match['label_match']:.1f} % of test codes lie in their own digit's component"
    return text


def quality(sess, g, args, digit_judge, n):
    """The judge's verdict on n codes drawn from the prior and decoded: how many are clearly digits."""
    samples = sample_prior(np.random.RandomState(args.seed), n, args)[0]
    return digit_judge.score(sess.run(g.generated, feed_dict={g.z_in: samples}))


def draw(args):
    """Restore a run and save its figures: the decoded grid, codes against the prior, reconstructions."""
    run = runs.Run.find(args, MODEL, args.run)
    run.adopt_args(args)
    check_prior(args)
    data = mnist.load(args.data_dir, args.seed)
    g = build_graph(args)
    plt = figures.pyplot()
    with tf.Session(config=precision.session_config(args.precision)) as sess:
        step = run.restore(sess, g.saver)
        print(f"Loaded {run.path} (step {step})")
        _, codes, recon = evaluate(sess, g, data)
        images = latent_grid(sess, g, args.z_dim)
        judged = quality(sess, g, args, judge.load(args.data_dir), QUALITY_SAMPLES)
        print(judge.describe(judged, JUDGED))
        if args.z_dim >= PARZEN_MIN_Z_DIM:
            samples = sample_prior(np.random.RandomState(args.seed), PARZEN_SAMPLES, args)[0]
            estimate = likelihood.parzen(sess.run(g.generated, feed_dict={g.z_in: samples}),
                                         data.validation.images, data.test.images)
            runs.write_atomically(os.path.join(run.path, "parzen.json"), json.dumps(estimate, indent=2))
            print(f"Parzen-window log-likelihood of the {data.test.num_examples} test images under "
                  f"{PARZEN_SAMPLES} decoded prior samples: {estimate['parzen_test_mean']:.1f} +- "
                  f"{estimate['parzen_test_standard_error']:.1f} nats (window width "
                  f"{estimate['parzen_sigma']:.3f}, chosen on the validation images; "
                  f"{estimate['parzen_seconds']:.0f} s)")
    digits = data.test.labels.argmax(1)
    match = describe_match(posterior_match(codes, digits, args))
    print(match[0].upper() + match[1:] + ".")

    n = len(GRID_POINTS)
    half = (GRID_POINTS[1] - GRID_POINTS[0]) / 2  # so that each tick sits at a cell's centre
    fig, ax = plt.subplots(figsize=(8, 8))
    ax.imshow(figures.tile(images, n, n), cmap="gray", aspect="auto",
              extent=(GRID_POINTS[0] - half, GRID_POINTS[-1] + half,
                      GRID_POINTS[0] - half, GRID_POINTS[-1] + half))
    rest = "" if args.z_dim == 2 else f" (z[2:{args.z_dim}] held at 0)"
    ax.set(title=f"Decoder output over the code plane{rest}", xlabel="z[0]", ylabel="z[1]")
    figures.save(fig, os.path.join(run.path, "latent_grid.png"))

    prior_points = sample_prior(np.random.RandomState(args.seed), SCATTER_PRIOR_SAMPLES, args)[0]
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.scatter(prior_points[:, 0], prior_points[:, 1], c="lightgray", s=3,
               label=f"samples of the prior, {PRIOR_NAMES[args.prior]}")
    points = ax.scatter(codes[:, 0], codes[:, 1], c=digits, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit of the test image")
    ax.legend(loc="upper right", markerscale=4)
    ax.set_aspect("equal", adjustable="datalim")
    rest = "" if args.z_dim == 2 else f" (first two of {args.z_dim} dimensions)"
    ax.set(title=f"Codes of the 10,000 test images over the prior{rest}", xlabel="z[0]", ylabel="z[1]")
    figures.save(fig, os.path.join(run.path, "latent_scatter.png"))

    figures.save_reconstructions(data.test.images[:10], recon[:10],
                                 os.path.join(run.path, "reconstructions.png"))
    figures.show_all()


def arg_parser():
    parser = flags.arg_parser(__doc__, z_dim=Z_DIM, min_z_dim=2)  # the figures draw a plane
    parser.add_argument("--prior", choices=PRIOR_NAMES, default="gaussian",
                        help="the distribution the codes must follow: " + "; ".join(
                            f"{name}: {text}" for name, text in PRIOR_NAMES.items()))
    parser.add_argument("--use_labels", type=flags.boolean, default=False,
                        help="the discriminator is also told each sample's component and each "
                             "code's digit, so that digit d must fill component d (mixture and "
                             "swiss_roll)")
    parser.add_argument("--input_noise", type=flags.non_negative, default=None,
                        help="std of the Gaussian noise added to the encoder's input in training; "
                             "the decoder still rebuilds the clean image (0: none, as in the "
                             "original). If not given: %g with --prior mixture --use_labels "
                             "True, else 0" % MIXTURE_INPUT_NOISE)
    parser.add_argument("--label_scale", type=flags.positive(float), default=LABEL_SCALE,
                        help="with --use_labels, the one-hot the discriminator reads beside z is "
                             "multiplied by this (1: a plain one-hot)")
    return parser


if __name__ == "__main__":
    common.main(arg_parser(), train, draw)
