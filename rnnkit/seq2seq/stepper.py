"""One decoder step at a time: the encoder-decoder protocol the inference loops share.

An encoder-decoder for inference is two models built from the trained layers (as the keras-io
``lstm_seq2seq`` example builds them):

    encoder(source)                       -> [*memory, *states]
    decoder([token, *memory, *states])    -> [probabilities, *new_states, *extras]

- ``memory``: the encoder outputs with a time axis (rank >= 3, e.g. the encoder's sequence
  ``(B, T_src, F)`` an attention decoder reads at every step); passed unchanged at every step.
- ``states``: the encoder outputs without one (rank 2, e.g. ``h`` and ``c`` ``(B, units)``);
  the decoder returns their new values, in the same order, right after the probabilities.
  Memory and states may come in any order; the decoder takes them in the encoder's order.
- ``token``: the previous token, as the decoder's first input declares it: integer ids ``(B, 1)``
  (for an ``Embedding``; ``(B,)`` for an input of shape ``()``) or one-hot vectors ``(B, 1, V)``.
- ``probabilities``: ``(B, 1, V)`` or ``(B, V)``, softmax outputs (or logits with
  ``from_logits=True``).
- ``extras``: further decoder outputs; the first of rank 3 ``(B, 1, T_src)`` is read as the
  attention weights of the step when the caller asks for them.

Where the encoder's run gives a memory output a mask (an ``Embedding(mask_zero=True)`` upstream),
that mask is passed to the decoder with the memory at every step, so attention skips the source's
padding exactly as it did in training.

Nothing is rebuilt per step: the models are called as they are, under :func:`rnnkit.no_grad`, and a
step costs one decoder call plus a few array gathers.
"""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check_token(name, value, vocabulary=None, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0 or (
            vocabulary is not None and value >= vocabulary):
        limit = f" below the vocabulary size {vocabulary}" if vocabulary is not None else ""
        raise RnnkitValueError(f"{name} must be a token id (an integer >= 0{limit})"
                               f"{' or None' if allow_none else ''}, got {describe(value)}")
    return int(value)


def log_probabilities(output, from_logits):
    """log p over the vocabulary, float64 ``(N, V)``, from the decoder's first output of one step."""
    values = np.asarray(output, dtype=np.float64)
    values = values.reshape(values.shape[0], -1) if values.ndim == 3 and values.shape[1] == 1 else values
    if values.ndim != 2:
        raise RnnkitValueError(f"the decoder's first output must hold one step's scores over the vocabulary, "
                               f"shaped (batch, 1, vocabulary) or (batch, vocabulary), got {describe(output)}")
    if from_logits:
        shifted = values - values.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    with np.errstate(divide="ignore"):  # a probability of exactly 0 is log 0 = -inf: never chosen
        return np.log(values)


class Stepper:
    """The encoder's results for a batch of sources and the decoder's step over them.

    Args:
        encoder: callable model, ``encoder(source)`` -> one array or a list (see the module docstring).
        decoder: callable model with ``inputs`` (its symbolic inputs: the token's first).
        source: the encoder's input: one array ``(B, ...)`` or a list of arrays for several inputs.
        from_logits: whether the decoder's first output is logits rather than probabilities.
    """

    def __init__(self, encoder, decoder, source, from_logits=False):
        for name, model in (("encoder", encoder), ("decoder", decoder)):
            if not callable(model):
                raise RnnkitTypeError(f"{name} must be a model (callable on arrays), got {describe(model)}")
        inputs = getattr(decoder, "inputs", None)
        if not inputs:
            raise RnnkitTypeError(f"decoder must be a functional model whose first input is the token, got "
                                  f"{describe(decoder)}")
        self.decoder = decoder
        self.from_logits = bool(from_logits)
        results = _as_list(encoder(source, training=False))
        masks = getattr(encoder, "_output_masks", None) or [None] * len(results)
        if len(inputs) != 1 + len(results):
            raise RnnkitValueError(
                f"decoder must take the token and then each of the encoder's outputs ({len(results)}), "
                f"{1 + len(results)} inputs in all; got a decoder with {len(inputs)} inputs")
        self.batch = len(results[0])
        self.memory_at = [i for i, r in enumerate(results) if np.ndim(r) >= 3]
        self.state_at = [i for i, r in enumerate(results) if np.ndim(r) < 3]
        for i, value in enumerate(results):
            if np.ndim(value) < 2 or len(value) != self.batch:
                raise RnnkitValueError(f"encoder output {i} must have the batch axis first ({self.batch} rows) and "
                                       f"features, got {describe(np.asarray(value))}")
        self.values = [np.asarray(r) for r in results]
        # a mask that hides nothing changes nothing: leaving it out spares the masked code paths
        self.masks = [None if m is None or i not in self.memory_at or np.all(m) else np.asarray(m, bool)
                      for i, m in enumerate(masks)]
        token = inputs[0]
        self.one_hot = len(token.shape) == 3
        self.token_rank = len(token.shape)
        self.token_dtype = np.dtype(getattr(token, "dtype", None) or ("float32" if self.one_hot else "int64"))
        self.vocabulary = token.shape[-1] if self.one_hot else None
        self._checked = False

    # the rows (batch entries) still decoding ---------------------------------------------------------
    def take(self, rows):
        """Keep only ``rows`` (an index array into the current batch) of memory, states and masks."""
        self.values = [v[rows] for v in self.values]
        self.masks = [None if m is None else m[rows] for m in self.masks]
        self.batch = len(rows)

    def repeat(self, times):
        """Repeat every row ``times`` times in place (row r becomes rows r*times ... r*times+times-1)."""
        self.take(np.repeat(np.arange(self.batch), times))

    @property
    def states(self):
        return [self.values[i] for i in self.state_at]

    def token_input(self, tokens):
        tokens = np.asarray(tokens)
        if self.one_hot:
            x = np.zeros((len(tokens), 1, self.vocabulary), self.token_dtype)
            x[np.arange(len(tokens)), 0, tokens] = 1
            return x
        return tokens.astype(self.token_dtype).reshape((len(tokens),) + (1,) * (self.token_rank - 1))

    def step(self, tokens, want_attention=False):
        """One decoder step for the current rows given their previous ``tokens`` (N,).

        Updates the states in place and returns (log-probabilities (N, V) float64, attention
        weights (N, T_src) or None)."""
        inputs = [self.token_input(tokens)] + self.values
        masks = [None] + self.masks
        outputs = _as_list(self.decoder(inputs, training=False,
                                        mask=masks if any(m is not None for m in masks) else None))
        if not self._checked:
            self._check_outputs(outputs, want_attention)
        for place, value in zip(self.state_at, outputs[1:]):
            self.values[place] = value
        logp = log_probabilities(outputs[0], self.from_logits)
        attention = None
        if want_attention:
            extra = outputs[1 + len(self.state_at):]
            attention = next((np.asarray(e).reshape(len(e), -1) for e in extra if np.ndim(e) == 3), None)
        return logp, attention

    def _check_outputs(self, outputs, want_attention):
        """Once, on the first step: the decoder returns probabilities and the new states (same shapes)."""
        states = len(self.state_at)
        if len(outputs) < 1 + states:
            raise RnnkitValueError(
                f"decoder must return the next-token probabilities and then the {states} new states (the encoder "
                f"outputs without a time axis), got {len(outputs)} outputs")
        for n, (place, value) in enumerate(zip(self.state_at, outputs[1:])):
            if np.shape(value) != self.values[place].shape:
                raise RnnkitValueError(
                    f"decoder output {n + 1} must be the new value of the state it takes as input "
                    f"{1 + place} (shape {self.values[place].shape}), got shape {np.shape(value)}")
        vocabulary = np.shape(outputs[0])[-1]
        if self.one_hot and vocabulary != self.vocabulary:
            raise RnnkitValueError(f"the decoder reads one-hot tokens of size {self.vocabulary} but predicts "
                                   f"{vocabulary} classes")
        if want_attention and not any(np.ndim(e) == 3 for e in outputs[1 + states:]):
            raise RnnkitValueError(
                "return_attention needs a decoder that also returns its attention weights (an output of shape "
                "(batch, 1, source steps) after the states, e.g. Attention(...)([q, v], "
                "return_attention_scores=True))")
        self.vocabulary = vocabulary
        self._checked = True


def source_batches(source, batch_size):
    """Split the encoder's input (an array or a list of arrays) into batches of ``batch_size`` rows."""
    arrays = _as_list(source)
    if not arrays:
        raise RnnkitValueError("source must be an array (or a list of arrays for an encoder with several "
                               "inputs), got an empty list")
    count = len(arrays[0])
    if any(len(a) != count for a in arrays):
        raise RnnkitValueError(f"every source array must have the same number of rows, got "
                               f"{[len(a) for a in arrays]}")
    for start in range(0, count, batch_size):
        part = [a[start:start + batch_size] for a in arrays]
        yield part if isinstance(source, (list, tuple)) else part[0]


def check_common(start_token, end_token, max_length, batch_size):
    from .._validate import positive_int

    return (_check_token("start_token", start_token), _check_token("end_token", end_token, allow_none=True),
            positive_int("max_length", max_length), positive_int("batch_size", batch_size))


def check_tokens_fit(stepper, start_token, end_token, before_first_step):
    """The tokens are ids of the vocabulary: one-hot tokens are checked before the first step (their
    size is the decoder's input's), the end token after it (when the decoder's output gives the size)."""
    if before_first_step:
        if stepper.one_hot:
            _check_token("start_token", start_token, stepper.vocabulary)
    elif end_token is not None:
        _check_token("end_token", end_token, stepper.vocabulary)
