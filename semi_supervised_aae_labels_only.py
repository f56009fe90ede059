"""The baseline of part 4: its classifier trained on the 1,000 labelled images alone.

semi_supervised_aae.py with the supervised phase as its only phase: the same encoder, the same
labelled images with the same noise, turns and shifts, the same learning rate and schedule, but
no reconstruction and no adversaries, so the 54,000 unlabelled images are never read in training.
The gap between this run's accuracy and the lesson's is what the unlabelled images add. Batch
normalisation's running averages follow the labelled batches here, the only ones there are.

    python semi_supervised_aae_labels_only.py --train True
    python semi_supervised_aae_labels_only.py --train False   # confusion matrix, accuracy curve

The flags are the lesson's; those of the adversaries change nothing here, and the decoder,
never trained, draws no digits. An epoch is still a pass's worth of unlabelled batches (540
iterations), so that both runs take as many steps of the supervised phase.
"""
import common  # first: it sets up TensorFlow (oneDNN, graph mode) before TensorFlow loads
import semi_supervised_aae as lesson

MODEL = "Semi_Supervised_Labels_Only"
PHASES = (("supervised",),)  # the lesson's fifth phase alone


def train(args):
    lesson.train(args, MODEL, PHASES)


def draw(args):
    lesson.draw(args, MODEL, PHASES)


if __name__ == "__main__":
    common.main(lesson.arg_parser(__doc__), train, draw)
