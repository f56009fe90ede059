"""Part 2's networks with the paper's other priors (its Figures 2 and 4): a mixture of 10
Gaussians, or a swiss roll, with or without the labels shown to the discriminator.

The lesson (adversarial_autoencoder.py) makes the codes follow N(0, 5^2 I). Nothing in its
networks or its training depends on that choice: the discriminator learns whatever prior it is
shown. Here it is shown a prior of 2-D codes made of 10 parts, one per digit:

    --prior mixture      10 Gaussians on a circle, each stretched along its radius
    --prior swiss_roll   a spiral of 2 turns, cut into 10 segments along its length

With --use_labels the discriminator also reads which part a prior sample comes from, and which
digit a code belongs to (a one-hot, scaled up by --label_scale): digit d's codes pass only if they
look like samples of part d, so each digit takes its own part. To place its codes the encoder must
read the digit, and on the mixture it places them better when it sees a noisy copy of its input
(--input_noise, 0.3 there).

    python adversarial_autoencoder_priors.py --train True --prior mixture --use_labels
    python adversarial_autoencoder_priors.py --train True --prior swiss_roll --use_labels
    python adversarial_autoencoder_priors.py --train False    # the newest run's figures

The runs go to Results/Adversarial_Autoencoder_Priors/, with the lesson's figures, TensorBoard
summaries and checkpoints. metrics.json says how the test codes fill the 10 parts
(component_shares, 0.1 each when matched) and, with --use_labels, the share that landed in their
own digit's part (label_match).
"""
import sys

import numpy as np

import common  # first: it sets up TensorFlow (oneDNN, graph mode) before TensorFlow loads
import adversarial_autoencoder as aae  # the lesson: its networks, losses and training loop
import tensorflow.compat.v1 as tf
from common import flags, runs

# The runs' folder under Results/, apart from the lesson's: its --train False never loads them.
MODEL = "Adversarial_Autoencoder_Priors"
N_COMPONENTS = 10  # one part of the prior per digit
# The sizes are ours, chosen to cover about the same disc as the lesson's Gaussian (radius ~10).
MIXTURE_RADIUS = 6.0  # the mixture's Gaussians are centred on a circle of this radius,
MIXTURE_STD_ALONG, MIXTURE_STD_ACROSS = 2.0, 0.5  # stretched along the radius, narrow across it
ROLL_TURNS, ROLL_RADIUS, ROLL_NOISE = 2.0, 10.0, 0.3  # the swiss roll: 2 turns out to radius 10
SPINE_POINTS = 2000  # points of the roll's spine used to find a code's segment
# Beside coordinates of 5 to 10 a plain one-hot of 0s and 1s is a faint signal, and the codes of
# a digit spill out of its part; scaled up by 5 it is heard (measurements: README).
LABEL_SCALE = 5.0  # default of --label_scale
# Noise on the encoder's input made it place the mixture's codes better; on the swiss roll, whose
# segments are thin and wind next to each other, worse, so there the default is no noise (README).
MIXTURE_INPUT_NOISE = 0.3  # default of --input_noise with --prior mixture --use_labels
PRIOR_NAMES = {"mixture": f"{N_COMPONENTS} Gaussians on a circle",
               "swiss_roll": f"a swiss roll of {N_COMPONENTS} segments"}


def build_graph(args):
    """The lesson's networks, losses and optimisers; with --use_labels the discriminator also
    reads each point's one-hot, and with --input_noise the encoder a noisy copy of x."""
    tf.reset_default_graph()
    tf.set_random_seed(args.seed)
    x = tf.placeholder(tf.float32, [None, aae.INPUT_DIM], name="Input")
    prior_z = tf.placeholder(tf.float32, [None, args.z_dim], name="Prior_samples")
    z_in = tf.placeholder(tf.float32, [None, args.z_dim], name="Decoder_input")
    # Which component each prior sample came from, and which digit each image is, both one-hot.
    prior_component = tf.placeholder(tf.float32, [None, N_COMPONENTS], name="Prior_component")
    label = tf.placeholder(tf.float32, [None, N_COMPONENTS], name="Labels")
    # The encoder reads x unless a noisy copy is fed here; the decoder must rebuild the clean x,
    # and the codes for the figures and the metrics come from x itself.
    x_encoder = tf.placeholder_with_default(x, [None, aae.INPUT_DIM], name="Encoder_input")
    z = aae.encoder(x_encoder, args.z_dim, args.hidden_units)
    reconstruction = aae.decoder(z, args.z_dim, args.hidden_units)
    generated = aae.decoder(z_in, args.z_dim, args.hidden_units, reuse=True)
    if args.use_labels:
        # Digit d's codes pass only if they look like samples of component d. The one-hots are
        # scaled up, so that they are not drowned beside the codes' larger numbers.
        real = tf.concat([prior_z, args.label_scale * prior_component], 1)
        fake = tf.concat([z, args.label_scale * label], 1)
    else:
        real, fake = prior_z, z
    d_real = aae.discriminator(real, real.shape[1], args.hidden_units)
    d_fake = aae.discriminator(fake, real.shape[1], args.hidden_units, reuse=True)
    return aae.losses_and_optimisers(
        args, x=x, x_encoder=x_encoder, prior_z=prior_z, prior_component=prior_component,
        label=label, z_in=z_in, z=z, reconstruction=reconstruction, generated=generated,
        discriminator_real=real, discriminator_fake=fake, d_real=d_real, d_fake=d_fake)


def sample_with_components(rng, n, args):
    """n samples of the chosen prior, and the component (mixture) or segment (swiss roll) of each."""
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


def sample_prior(rng, n, args):
    """n samples of the chosen prior (what the lesson's judge and figures ask for)."""
    return sample_with_components(rng, n, args)[0]


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
    """How the test codes sit in the prior, for metrics.json: the share of codes in each component
    (1/10 each when matched) and, with --use_labels, the share that landed in their digit's."""
    components = components_of(codes, args)
    shares = np.bincount(components, minlength=N_COMPONENTS) / len(codes)
    match = {"prior": args.prior, "component_shares": shares.tolist()}
    if args.use_labels:
        match["label_match"] = float(np.mean(components == digits))
    return match


def describe_match(match):
    text = (f"share of test codes per component {runs.numbers(match['component_shares'])} "
            "(the prior's: 0.10 each)")
    if "label_match" in match:
        text += f"; {100 * match['label_match']:.1f} % of test codes lie in their own digit's component"
    return text


def prior_name(args):
    return PRIOR_NAMES[args.prior]


def next_feed(g, data, args, prior):
    """The feed of one iteration: a training batch with its labels, a fresh batch of prior samples
    with their components (and, with --input_noise, the noisy copy of the batch the encoder sees;
    drawn from the prior's RandomState, so a resumed run draws the same)."""
    images, labels = data.train.next_batch(args.batch_size)
    z, component = sample_with_components(prior, args.batch_size, args)
    feed = {g.x: images, g.label: labels, g.prior_z: z,
            g.prior_component: np.eye(N_COMPONENTS, dtype=np.float32)[component]}
    if args.input_noise:
        feed[g.x_encoder] = images + prior.normal(0.0, args.input_noise, images.shape).astype(
            np.float32)
    return feed


def check_flags(args):
    """Refuse the combinations that make no sense; settle --input_noise's default."""
    if args.z_dim != 2:
        raise common.UserError(f"--prior {args.prior} is a prior of 2-D codes: use --z_dim 2.")
    if "label_scale" in args.given and not args.use_labels:
        raise common.UserError("--label_scale scales the labels that --use_labels shows the "
                               "discriminator: give both, or neither.")
    if args.input_noise is None:  # the default: see MIXTURE_INPUT_NOISE
        mixture_with_labels = args.use_labels and args.prior == "mixture"
        args.input_noise = MIXTURE_INPUT_NOISE if mixture_with_labels else 0.0


def train(args):
    check_flags(args)
    aae.train(args, sys.modules[__name__])


def draw(args):
    check_flags(args)
    aae.draw(args, sys.modules[__name__])


def arg_parser():
    parser = flags.arg_parser(__doc__, z_dim=aae.Z_DIM, min_z_dim=2)  # the figures draw a plane
    parser.add_argument("--prior", choices=PRIOR_NAMES, default="mixture",
                        help="the distribution the codes must follow: " + "; ".join(
                            f"{name}: {text}" for name, text in PRIOR_NAMES.items()))
    parser.add_argument("--use_labels", type=flags.boolean, nargs="?", const=True, default=False,
                        help="the discriminator is also told each sample's component and each "
                             "code's digit, so that digit d must fill component d")
    parser.add_argument("--input_noise", type=flags.non_negative, default=None,
                        help="std of the Gaussian noise added to the encoder's input in training; "
                             "the decoder still rebuilds the clean image (0: none). If not given: "
                             "%g with --prior mixture --use_labels, else 0" % MIXTURE_INPUT_NOISE)
    parser.add_argument("--label_scale", type=flags.positive(float), default=LABEL_SCALE,
                        help="with --use_labels, the one-hot the discriminator reads beside z is "
                             "multiplied by this (1: a plain one-hot)")
    return parser


if __name__ == "__main__":
    common.main(arg_parser(), train, draw)
