"""TensorBoard entries made outside the graph: Python numbers, pictures, and the resume marker."""
import io

import numpy as np
import tensorflow.compat.v1 as tf


def scalars(writer, step, **values):
    """Write Python numbers (computed outside the graph) as TensorBoard scalars."""
    writer.add_summary(tf.Summary(value=[tf.Summary.Value(tag=tag, simple_value=float(v))
                                         for tag, v in values.items()]), step)


def image(writer, step, tag, picture):
    """Write a grey picture (2-D array of values in [0, 1], made outside the graph) to TensorBoard."""
    from PIL import Image  # Pillow, which matplotlib installs, encodes PNG several times faster
    png = io.BytesIO()
    grey = np.round(255 * np.clip(picture, 0, 1)).astype(np.uint8)
    Image.fromarray(grey, mode="L").save(png, format="PNG")
    encoded = tf.Summary.Image(height=grey.shape[0], width=grey.shape[1], colorspace=1,
                               encoded_image_string=png.getvalue())
    writer.add_summary(tf.Summary(value=[tf.Summary.Value(tag=tag, image=encoded)]), step)


def drop_after(writer, step):
    """Make TensorBoard forget this run's events after `step`, the step training starts from.

    A hard crash can leave events logged after the checkpoint a run resumes from; TensorBoard
    drops the events beyond a SessionLog START marker, so no step is shown twice.
    """
    writer.add_session_log(tf.SessionLog(status=tf.SessionLog.START), step + 1)
