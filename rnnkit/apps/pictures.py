"""Pictures: matplotlib with the Agg backend, imported only when a command draws (and skipped,
with one line saying so, when matplotlib is missing)."""
import io

from .console import say

_PYPLOT = {"checked": False, "module": None}


def pyplot(out=None):
    """``matplotlib.pyplot`` with the Agg backend, imported on first use; None (said once) without matplotlib."""
    if not _PYPLOT["checked"]:
        _PYPLOT["checked"] = True
        try:
            import matplotlib

            matplotlib.use("Agg", force=True)
            import matplotlib.pyplot as plt
        except ImportError:
            say('pictures skipped: matplotlib is not installed (python3 -m pip install "rnnkit[apps]")',
                file=out)
            plt = None
        _PYPLOT["module"] = plt
    return _PYPLOT["module"]


def save_figure(fig, path, dpi=100):
    """Write ``fig`` as a PNG at ``path`` atomically and close it; returns the path."""
    from ..io import atomic_write

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    atomic_write(path, buffer.getvalue())
    return path


def draw_accuracy_and_loss(history, path, accuracy_key="accuracy"):
    """Accuracy and loss per epoch side by side (training, and validation when present); returns the
    PNG path, or None without matplotlib. ``history`` is a History's dict plus an "epoch" list."""
    plt = pyplot()
    if plt is None:
        return None
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [int(e) + 1 for e in history.get("epoch", [])]
    for ax, key, title in ((ax_acc, accuracy_key, "Accuracy"), (ax_loss, "loss", "Loss")):
        for name, label in ((key, "training"), (f"val_{key}", "validation")):
            if name in history:
                ax.plot(epochs, history[name], label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend()
    ax_acc.set_ylim(-0.05, 1.05)
    return save_figure(fig, path)
