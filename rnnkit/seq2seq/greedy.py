"""Greedy decoding: at every step the most probable next token."""
import numpy as np

from ..ops.grad_mode import no_grad
from .hypothesis import Hypothesis
from .stepper import Stepper, check_common, check_tokens_fit, source_batches


def greedy_decode(encoder, decoder, source, start_token, end_token=None, max_length=100, from_logits=False,
                  return_attention=False, batch_size=256):
    """Decode every source by taking the most probable token at each step (ties: the lowest id).

    The loop of the keras-io ``decode_sequence``, for a whole batch at once: the encoder runs once,
    then the decoder one token at a time with its states, under :func:`rnnkit.no_grad`; a source
    leaves the batch when it emits ``end_token``, so later steps only run the rows still decoding.

        y_0 = start_token;   y_t = argmax_v p(v | y_<t, source);   stop at end_token or max_length

    Args:
        encoder: model, ``encoder(source) -> [*memory, *states]`` (see :mod:`rnnkit.seq2seq.stepper`).
        decoder: model, ``decoder([token, *memory, *states]) -> [probabilities, *new_states, *extras]``.
        source: the encoder's input, ``(B, ...)`` (a list of arrays for an encoder with several inputs).
        start_token: the id fed at the first step (keras-io's ``"\\t"``).
        end_token: the id that ends a sequence (keras-io's ``"\\n"``), or None to always decode
            ``max_length`` tokens.
        max_length: most tokens generated per source (the end token included).
        from_logits: True when the decoder's first output is logits, not probabilities.
        return_attention: also return each step's attention weights (the decoder must output them).
        batch_size: sources decoded together.

    Returns:
        a list with one :class:`~rnnkit.seq2seq.Hypothesis` per source, in order.

    Example:
        >>> hyps = greedy_decode(encoder_model, decoder_model, source_ids, start_token=1, end_token=2,
        ...                      max_length=20)                                     # doctest: +SKIP
        >>> "".join(target_chars[t] for t in hyps[0].tokens)                        # doctest: +SKIP
    """
    start_token, end_token, max_length, batch_size = check_common(start_token, end_token, max_length, batch_size)
    results = []
    with no_grad():
        for part in source_batches(source, batch_size):
            results += _greedy_batch(Stepper(encoder, decoder, part, from_logits), start_token, end_token,
                                     max_length, return_attention)
    return results


def _greedy_batch(stepper, start_token, end_token, max_length, return_attention):
    count = stepper.batch
    check_tokens_fit(stepper, start_token, end_token, before_first_step=True)
    rows = np.arange(count)                       # the sources still decoding, in batch order
    tokens = np.full(count, start_token, np.int64)
    generated = [[] for _ in range(count)]
    log_probs = np.zeros(count)
    attention = [[] for _ in range(count)]
    finished = np.zeros(count, bool)
    for step in range(max_length):
        logp, weights = stepper.step(tokens, return_attention)
        if step == 0:
            check_tokens_fit(stepper, start_token, end_token, before_first_step=False)
        tokens = np.argmax(logp, axis=1)
        log_probs[rows] += logp[np.arange(len(rows)), tokens]
        for i, row in enumerate(rows.tolist()):
            generated[row].append(int(tokens[i]))
            if weights is not None:
                attention[row].append(weights[i])
        if end_token is None:
            continue
        ended = tokens == end_token
        if ended.any():
            finished[rows[ended]] = True
            keep = np.flatnonzero(~ended)
            if not len(keep):
                break
            rows, tokens = rows[keep], tokens[keep]
            stepper.take(keep)
    hypotheses = []
    for row in range(count):
        ids = generated[row][:-1] if finished[row] else generated[row]
        hypotheses.append(Hypothesis(np.array(ids, np.int64), float(log_probs[row]), float(log_probs[row]),
                                     bool(finished[row]), np.array(attention[row]) if return_attention else None))
    return hypotheses
