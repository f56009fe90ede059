"""Figures: matplotlib pictures saved as PNG files in the run folder, shown where a screen exists."""
import os
import sys

import numpy as np

from common import UserError


def has_display():
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def pyplot():
    """matplotlib.pyplot, drawing off-screen when there is no display to open a window on."""
    import matplotlib
    if not has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def tile(images, rows, cols):
    """Lay rows*cols 28x28 images out as one (rows*28, cols*28) picture."""
    return np.asarray(images).reshape(rows, cols, 28, 28).transpose(0, 2, 1, 3).reshape(
        rows * 28, cols * 28)


def counts(ax, matrix, fontsize=8, aspect=None):
    """Show a matrix of counts, each non-zero cell labelled with its count.

    The colours follow log(1 + count), so that a few mistakes stay visible next to a thousand
    right answers.
    """
    shown = ax.imshow(np.log1p(matrix), cmap="Blues", aspect=aspect)
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            dark = shown.norm(np.log1p(count)) > 0.6
            ax.text(col, row, count, ha="center", va="center", fontsize=fontsize,
                    color="white" if dark else "black")


def save(fig, path):
    try:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}.") from None
    print(f"Saved {path}")


def save_reconstructions(images, rebuilt, path):
    """Save ten images above their reconstructions, the first picture of every autoencoder."""
    fig, ax = pyplot().subplots(figsize=(10, 2.4))
    ax.imshow(tile(np.concatenate([images, rebuilt]), 2, len(images)), cmap="gray")
    ax.set(title="Test images (top) and their reconstructions (bottom)", xticks=[], yticks=[])
    save(fig, path)


def show_all():
    plt = pyplot()
    if has_display() and plt.get_backend().lower() != "agg":
        plt.show()
    plt.close("all")
