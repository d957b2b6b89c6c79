"""Figures: cross-attention heatmaps (matplotlib, written as PNG, no screen needed)."""

import os

import numpy as np


def plot_attention(weights, source_tokens, target_tokens, path, head=None, title=None):
    """Save a (target words x source words) heatmap of cross-attention as a PNG.

    Args:
        weights: (heads, tgt_len, src_len) attention weights.
        source_tokens, target_tokens: labels for the columns and rows.
        path: str, the PNG to write.
        head: int or None. Which head to show; None averages over heads.
        title: str or None.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = np.asarray(weights)
    if head is not None and not 0 <= head < weights.shape[0]:
        raise ValueError(f"head={head} is not in [0, {weights.shape[0]})")
    matrix = weights.mean(axis=0) if head is None else weights[head]
    matrix = matrix[: len(target_tokens), : len(source_tokens)]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 0.55 * len(source_tokens)),
                                    max(4.0, 1.5 + 0.45 * len(target_tokens))))
    image = ax.imshow(matrix, cmap="viridis", vmin=0.0, aspect="auto")
    ax.set_xticks(range(len(source_tokens)), source_tokens, rotation=45, ha="right")
    ax.set_yticks(range(len(target_tokens)), target_tokens)
    ax.set_xlabel("source (English) words")
    ax.set_ylabel("generated (Spanish) words")
    which = "mean over heads" if head is None else f"head {head}"
    ax.set_title(title or f"cross-attention ({which})", fontsize=10)
    fig.colorbar(image, ax=ax, label="attention weight")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
