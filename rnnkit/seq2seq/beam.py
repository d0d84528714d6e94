"""Beam search: keep the ``beam_width`` most probable prefixes at every step."""
import numbers

import numpy as np

from .._validate import describe, positive_int
from ..errors import RnnkitValueError
from ..ops.grad_mode import no_grad
from .hypothesis import Hypothesis, normalised
from .stepper import Stepper, check_common, check_tokens_fit, source_batches


def beam_search(encoder, decoder, source, start_token, end_token=None, max_length=100, beam_width=4,
                num_results=1, length_penalty=0.0, from_logits=False, return_attention=False, batch_size=64):
    """Decode every source with beam search; returns its ``num_results`` best hypotheses.

    For each source ``beam_width`` prefixes are alive. A step runs the decoder once on all of
    them (``B · beam_width`` rows), scores every extension ``log_prob(prefix) + log p(v | prefix)``
    and, per source, goes through the ``2 · beam_width`` best in order: an extension by
    ``end_token`` that ranks among the first ``beam_width`` becomes a finished hypothesis; the
    others fill the ``beam_width`` alive prefixes of the next step (whose states are gathered from
    their parents'). After ``max_length`` steps the alive prefixes are finished too (cut, not ended).
    Finished hypotheses are ranked by

        score = log_prob / length ** length_penalty        (length: generated tokens, end token included)

    ``length_penalty`` 0 ranks by the plain sum of log-probabilities (which favours short
    sequences); 1 by the mean per token (Hugging Face's default). A source stops early once it has
    ``beam_width`` finished hypotheses and no alive prefix can still beat the worst of them (with
    ``log p <= 0``, an alive prefix's best possible score is its log-probability over the most
    favourable length still reachable), so the result is that of the full search. With a beam wide
    enough to hold every prefix the search is exhaustive; ``beam_width=1`` and ``length_penalty=0``
    give :func:`greedy_decode`'s sequences.

    Args:
        encoder, decoder, source, start_token, end_token, max_length, from_logits, return_attention:
            as for :func:`~rnnkit.seq2seq.greedy_decode`.
        beam_width: prefixes kept per source.
        num_results: hypotheses returned per source, best first (at most ``beam_width``).
        length_penalty: the exponent α of the length normalisation above, a number >= 0.
        batch_size: sources searched together (the decoder runs on ``batch_size · beam_width`` rows).

    Returns:
        a list with, per source, a list of its best :class:`~rnnkit.seq2seq.Hypothesis`, best first.
    """
    start_token, end_token, max_length, batch_size = check_common(start_token, end_token, max_length, batch_size)
    beam_width = positive_int("beam_width", beam_width)
    num_results = positive_int("num_results", num_results)
    if num_results > beam_width:
        raise RnnkitValueError(f"num_results must be at most beam_width ({beam_width}), got {num_results}")
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, numbers.Real) or not (
            0 <= length_penalty < float("inf")):
        raise RnnkitValueError(f"length_penalty must be a number >= 0, got {describe(length_penalty)}")
    search = _Search(beam_width, end_token, max_length, float(length_penalty), return_attention)
    results = []
    with no_grad():
        for part in source_batches(source, batch_size):
            stepper = Stepper(encoder, decoder, part, from_logits)
            results += [hyps[:num_results] for hyps in search.run(stepper, start_token)]
    return results


class _Search:
    def __init__(self, width, end_token, max_length, length_penalty, return_attention):
        self.width, self.end, self.max_length = width, end_token, max_length
        self.alpha, self.attention = length_penalty, return_attention

    def run(self, stepper, start_token):
        width, count = self.width, stepper.batch
        check_tokens_fit(stepper, start_token, self.end, before_first_step=True)
        stepper.repeat(width)
        live = np.arange(count)                        # sources still searching, in batch order
        scores = np.full((count, width), -np.inf)      # log-probabilities of the alive prefixes
        scores[:, 0] = 0.0                             # one prefix (the start) at first, not width copies
        prefixes = np.zeros((count, width, 0), np.int64)
        weights = np.zeros((count, width, 0, 0))       # attention rows of the prefixes
        tokens = np.full(count * width, start_token, np.int64)
        self.finished = [[] for _ in range(count)]
        for step in range(1, self.max_length + 1):
            logp, attention = stepper.step(tokens, self.attention)
            if step == 1:
                check_tokens_fit(stepper, start_token, self.end, before_first_step=False)
            vocabulary = logp.shape[1]
            if attention is not None and step == 1:
                weights = np.zeros((count, width, 0, attention.shape[1]))
            candidates = (scores[live][:, :, None] + logp.reshape(len(live), width, vocabulary)).reshape(
                len(live), width * vocabulary)
            parents, chosen, new_scores = self._select(candidates, vocabulary, live, step, prefixes, weights,
                                                       attention)
            # gather what the chosen prefixes extend: their tokens, attention rows and decoder states
            rows = (np.arange(len(live))[:, None] * width + parents).reshape(-1)
            prefixes = _extend(prefixes, live, parents, chosen)
            if attention is not None:
                step_weights = attention.reshape(len(live), width, 1, -1)
                picked = np.take_along_axis(step_weights, parents[:, :, None, None], axis=1)
                weights = _extend(weights, live, parents, picked)
            scores[live] = new_scores
            stepper.take(rows)
            tokens = chosen.reshape(-1)
            still = np.array([not self._done(b, scores[b], step) for b in live.tolist()], bool)
            if not still.all():
                keep = np.flatnonzero(still)
                stepper.take((keep[:, None] * width + np.arange(width)).reshape(-1))
                tokens = tokens.reshape(len(live), width)[keep].reshape(-1)
                live = live[keep]
            if not len(live):
                break
        for b in live.tolist():  # cut at max_length: the alive prefixes are hypotheses too
            for k in np.flatnonzero(np.isfinite(scores[b])).tolist():
                self._finish(b, prefixes[b, k], scores[b, k], False, weights[b, k] if self.attention else None)
        return [sorted(found, key=lambda h: -h.score) for found in self.finished]

    def _select(self, candidates, vocabulary, live, step, prefixes, weights, attention):
        """Per source: its 2·width best extensions in order (ties: the lower beam, then the lower id);
        end-token extensions among the first ``width`` are finished, the rest fill the next beam."""
        width = self.width
        top = min(2 * width, candidates.shape[1])
        best = np.argpartition(-candidates, top - 1, axis=1)[:, :top] if top < candidates.shape[1] else \
            np.tile(np.arange(candidates.shape[1]), (len(live), 1))
        parents = np.zeros((len(live), width), np.int64)
        chosen = np.zeros((len(live), width), np.int64)
        new_scores = np.full((len(live), width), -np.inf)
        for i, b in enumerate(live.tolist()):
            order = best[i][np.lexsort((best[i], -candidates[i, best[i]]))]
            filled = 0
            for rank, index in enumerate(order.tolist()):
                score = candidates[i, index]
                if score == -np.inf or filled == width:
                    break
                beam, token = divmod(index, vocabulary)
                if token == self.end:
                    if rank < width:
                        rows = None if attention is None else np.concatenate(
                            [weights[b, beam], attention[i * width + beam][None]])
                        self._finish(b, prefixes[b, beam], score, True, rows, length=step)
                    continue
                parents[i, filled], chosen[i, filled], new_scores[i, filled] = beam, token, score
                filled += 1
        return parents, chosen, new_scores

    def _finish(self, b, tokens, log_prob, finished, attention, length=None):
        length = length if length is not None else len(tokens)
        self.finished[b].append(Hypothesis(np.array(tokens, np.int64), float(log_prob),
                                           normalised(log_prob, length, self.alpha), finished,
                                           None if attention is None else np.array(attention)))

    def _done(self, b, alive_scores, step):
        """Whether source ``b`` can stop: no alive prefix left, or ``width`` finished hypotheses none of
        the alive prefixes can beat whatever their length ends up being."""
        alive = alive_scores[np.isfinite(alive_scores)]
        if not len(alive):
            return True
        found = self.finished[b]
        if len(found) < self.width or step == self.max_length:
            return False
        worst = sorted(h.score for h in found)[-self.width]
        best = float(alive.max())  # <= 0, and extending only lowers it
        # the score's best case: divided by the largest length^α reachable (α >= 0: the longest)
        bound = normalised(best, self.max_length, self.alpha)
        return bound <= worst


def _extend(history, live, parents, new):
    """``history[live]`` reordered by ``parents`` with ``new`` appended along axis 2; rows of sources
    no longer live keep their (unused) history, padded."""
    gathered = np.take_along_axis(history[live], parents.reshape(parents.shape + (1,) * (history.ndim - 2)),
                                  axis=1)
    new = new.reshape(gathered.shape[:2] + (1,) + gathered.shape[3:]).astype(history.dtype)
    grown = np.concatenate([gathered, new], axis=2)
    result = np.zeros((history.shape[0],) + grown.shape[1:], history.dtype)
    result[live] = grown
    return result
