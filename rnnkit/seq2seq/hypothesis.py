"""What the inference loops return: one decoded sequence and its scores."""
from typing import NamedTuple, Optional

import numpy as np


class Hypothesis(NamedTuple):
    """One decoded target sequence.

    Attributes:
        tokens: the generated ids, int64 ``(L,)``; the start token and the end token are not included.
        log_prob: Σ_t log p(y_t | y_<t, source) over the generated tokens, the end token included.
        score: what ranks hypotheses: ``log_prob / length ** length_penalty`` with ``length`` the
            number of generated tokens (the end token included); ``log_prob`` when the penalty is 0.
        finished: True when the sequence ended with the end token, False when ``max_length`` cut it.
        attention: the decoder's attention weights ``(length, T_src)``, one row per generated token,
            when asked for (``return_attention=True``), else None.
    """

    tokens: np.ndarray
    log_prob: float
    score: float
    finished: bool
    attention: Optional[np.ndarray] = None


def normalised(log_prob, length, length_penalty):
    """``log_prob / length ** length_penalty`` (GNMT's and Hugging Face's length normalisation)."""
    return float(log_prob) if length_penalty == 0 else float(log_prob) / float(length) ** length_penalty
