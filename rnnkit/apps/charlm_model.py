"""The model of ``rnnkit charlm``, its bits-per-character log and text generation.

Model: ``Embedding(V, E) -> <Cell>(H, return_sequences=True) x layers -> Dense(V)``,
trained with sparse categorical cross-entropy on logits, so the loss is the mean
negative log-likelihood of the next character in nats and

    bits per character = loss / ln 2.
"""
import math

import numpy as np

from ..callbacks import Callback

CELL_LAYERS = {"lstm": "LSTM", "gru": "GRU", "simplernn": "SimpleRNN"}


def build_model(vocab_size, cell="lstm", layers=1, units=128, embedding=32, seed=0):
    """The character model for ids (B, T) -> logits (B, T, vocab_size)."""
    from .. import layers as L
    from ..models import Sequential

    layer_class = getattr(L, CELL_LAYERS[cell])
    stack = [L.Embedding(vocab_size, embedding, seed=seed, name="embedding")]
    stack += [layer_class(units, return_sequences=True, seed=seed + 1 + i, name=f"{cell}_{i + 1}")
              for i in range(layers)]
    stack.append(L.Dense(vocab_size, seed=seed + 1 + layers, name="logits"))
    return Sequential(stack, name="charlm")


def bits(loss):
    """Nats per character -> bits per character."""
    return float(loss) / math.log(2.0)


class BitsPerCharacter(Callback):
    """Adds ``bpc`` and ``val_bpc`` (loss / ln 2) to every epoch's logs.

    Put it before the callbacks that record logs (CSVLogger, the progress bar) so they show it.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for key in ("loss", "val_loss"):
            if key in logs:
                logs[key.replace("loss", "bpc")] = bits(logs[key])


def softmax_with_temperature(logits, temperature):
    """p_i = exp(z_i / τ) / Σ_j exp(z_j / τ), computed in float64 for a stable sum to one."""
    z = np.asarray(logits, np.float64) / temperature
    z -= z.max()
    p = np.exp(z)
    return p / p.sum()


def generate(model, vocab, prime_ids, length, temperature, rng):
    """Sample ``length`` characters after ``prime_ids``.

    The recurrent layers are switched to stateful for the duration, so the prime is read
    once and every new character costs one step (not a rerun of the whole text so far);
    their previous settings are restored afterwards.

    Args:
        model: the trained character model.
        vocab: string, id i is ``vocab[i]``.
        prime_ids: 1-D int array, at least one id.
        length: characters to generate.
        temperature: τ > 0; below 1 sharpens the distribution, above 1 flattens it.
        rng: ``np.random.Generator``.

    Returns:
        the generated text (without the prime).
    """
    from ..models.tbptt import state_carriers

    layers = state_carriers(model)
    saved = [(layer.stateful, layer.states) for layer in layers]
    out = []
    try:
        for layer in layers:
            layer.stateful, layer.states = True, None
        logits = model(np.asarray(prime_ids, np.int64)[None, :], training=False)[0, -1]
        for _ in range(length):
            p = softmax_with_temperature(logits, temperature)
            next_id = int(rng.choice(len(p), p=p))
            out.append(vocab[next_id])
            logits = model(np.array([[next_id]], np.int64), training=False)[0, -1]
    finally:
        for layer, (stateful, states) in zip(layers, saved):
            layer.stateful, layer.states = stateful, states
    return "".join(out)
