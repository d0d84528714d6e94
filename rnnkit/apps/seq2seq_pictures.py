"""The attention heatmaps of ``rnnkit seq2seq train``: which source characters each output character read."""
from .pictures import pyplot, save_figure


def draw_attention(examples, path):
    """One heatmap per example, side by side: rows the output characters (and the end), columns the
    source characters, colour the attention weight (each row sums to 1). Returns the PNG path, or
    None without matplotlib.

    Args:
        examples: list of (source text, output text, weights (output steps, source steps)).
        path: the PNG to write.
    """
    plt = pyplot()
    if plt is None or not examples:
        return None
    fig, axes = plt.subplots(1, len(examples), figsize=(3.6 * len(examples), 3.4), squeeze=False)
    image = None
    for ax, (source, output, weights) in zip(axes[0], examples):
        rows = list(output) + ["<end>"]
        weights = weights[:len(rows), :max(1, len(source))]
        image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(source)))
        ax.set_xticklabels(["␣" if c == " " else c for c in source], fontsize=8)
        ax.set_yticks(range(len(weights)))
        ax.set_yticklabels(rows[:len(weights)], fontsize=8)
        ax.set_xlabel("source")
        ax.set_title(f"{source!r}\n-> {output!r}", fontsize=9)
    axes[0][0].set_ylabel("output")
    fig.colorbar(image, ax=list(axes[0]), fraction=0.02, pad=0.02, label="attention weight")
    return save_figure(fig, path)
