"""The encoder-decoder of ``rnnkit seq2seq``, and its inference models built from the trained layers.

Training model (teacher forcing), characters as ids, 0 the padding (masked everywhere)::

    source ids (B, S) -> Embedding(mask_zero) -> [Bidirectional] Cell(units, sequences + states) -> memory, states
    target ids in (B, T) = start, y_1 .. y_n, 0 ... -> Embedding(mask_zero) -> Cell(dec_units, initial states) -> h_t
    [attention]  context_t = Attention / AdditiveAttention([h_t, memory]);   o_t = [context_t, h_t]
    p(y_t | y_<t, source) = softmax(Dense(o_t))            target out (B, T) = y_1 .. y_n, end, 0 ...

With a bidirectional encoder the forward and backward final states are concatenated, so the
decoder has 2·units. Attention is "post-RNN" (Luong et al. 2015's global attention): the decoder
state h_t queries the encoder's sequence and the context joins h_t before the output layer; the
two choices differ by the score — ``luong`` is the dot product ``h_t · m_s`` (Keras's
``Attention``), ``bahdanau`` the additive ``v · tanh(h_t + m_s)`` (Keras's ``AdditiveAttention``).

Inference: ``encoder(source) -> [memory, *states]`` and
``decoder([token, memory, *states]) -> [probabilities, *states, attention weights]``, the
protocol of :mod:`rnnkit.seq2seq`.
"""
from typing import NamedTuple, Optional

import numpy as np

CELLS = {"lstm": "LSTM", "gru": "GRU"}
ATTENTION = {"luong": "Attention", "bahdanau": "AdditiveAttention"}


def _state_count(cell):
    return 2 if cell == "lstm" else 1


def decoder_units(units, bidirectional):
    return 2 * units if bidirectional else units


def build_training_model(source_size, target_size, cell="lstm", units=64, embedding=32, attention="luong",
                         bidirectional=True, seed=0):
    """The model ``[source ids, target ids in] -> next-token probabilities (B, T, target_size)``.

    Args:
        source_size, target_size: vocabulary sizes (id 0 is the padding of both).
        cell: "lstm" or "gru".
        units: encoder units (per direction).
        embedding: size of both embeddings.
        attention: "luong", "bahdanau" or "none".
        bidirectional: read the source both ways.
        seed: layer k is seeded ``seed + k``.
    """
    from .. import layers as L
    from ..layers.input_layer import Input
    from ..models import Model

    rnn = getattr(L, CELLS[cell])
    source = Input(shape=(None,), dtype="int32", name="source")
    target = Input(shape=(None,), dtype="int32", name="target_in")
    x = L.Embedding(source_size, embedding, mask_zero=True, seed=seed, name="source_embedding")(source)
    encoder_rnn = rnn(units, return_sequences=True, return_state=True, seed=seed + 1,
                      name="encoder_rnn" if bidirectional else "encoder")
    if bidirectional:
        encoded = L.Bidirectional(encoder_rnn, name="encoder")(x)
        memory, halves = encoded[0], encoded[1:]
        count = _state_count(cell)
        states = [L.Concatenate(name=f"encoder_state_{i}")([halves[i], halves[count + i]]) for i in range(count)]
    else:
        memory, *states = encoder_rnn(x)
    y = L.Embedding(target_size, embedding, mask_zero=True, seed=seed + 2, name="target_embedding")(target)
    decoded = rnn(decoder_units(units, bidirectional), return_sequences=True, return_state=True, seed=seed + 3,
                  name="decoder")(y, initial_state=states)[0]
    if attention != "none":
        context = getattr(L, ATTENTION[attention])(name="attention")([decoded, memory])
        decoded = L.Concatenate(name="attention_output")([context, decoded])
    probabilities = L.Dense(target_size, activation="softmax", seed=seed + 4, name="output")(decoded)
    return Model([source, target], probabilities, name="seq2seq")


def inference_models(model):
    """(encoder, decoder) for :mod:`rnnkit.seq2seq`, made of ``model``'s trained layers (shared weights).

    ``model`` is the training model (as built by :func:`build_training_model`, or loaded from its
    file); its layers are found by name, as the keras-io example finds ``model.layers[i]``.
    """
    from ..layers.input_layer import Input
    from ..models import Model

    names = {layer.name for layer in model.layers}
    source = model.input[0]
    decoder_rnn = model.get_layer("decoder")
    encoded = model.get_layer("encoder").output
    memory = encoded[0]
    if "encoder_state_0" in names:
        states = [model.get_layer(f"encoder_state_{i}").output for i in range(len(encoded[1:]) // 2)]
    else:
        states = list(encoded[1:])
    encoder = Model(source, [memory, *states], name="seq2seq_encoder")

    token = Input(shape=(1,), dtype="int32", name="token")
    memory_in = Input(shape=(None, memory.shape[-1]), name="memory")
    state_ins = [Input(shape=(state.shape[-1],), name=f"state_{i}") for i, state in enumerate(states)]
    step = decoder_rnn(model.get_layer("target_embedding")(token), initial_state=state_ins)
    decoded, new_states = step[0], list(step[1:])
    outputs = []
    if "attention" in names:
        context, weights = model.get_layer("attention")([decoded, memory_in], return_attention_scores=True)
        decoded = model.get_layer("attention_output")([context, decoded])
        outputs = [weights]
    probabilities = model.get_layer("output")(decoded)
    decoder = Model([token, memory_in, *state_ins], [probabilities, *new_states, *outputs], name="seq2seq_decoder")
    return encoder, decoder


class Translation(NamedTuple):
    """One decoded text: ``text``, its target ``tokens`` and, when asked for, ``attention`` (steps, source)."""

    text: str
    tokens: np.ndarray
    attention: Optional[np.ndarray]


class Translator:
    """Decode texts with a trained model: its inference models are built once, here.

    Args:
        model: the training model.
        source_chars, target_chars: the run's vocabularies (config.json).
        max_length: most characters generated per text, the end included.
    """

    def __init__(self, model, source_chars, target_chars, max_length):
        self.encoder, self.decoder = inference_models(model)
        self.attention = any(layer.name == "attention" for layer in model.layers)
        self.source_chars, self.target_chars, self.max_length = source_chars, target_chars, max_length

    def __call__(self, texts, beam=1, length_penalty=0.0, attention=False, batch_size=256):
        """One :class:`Translation` per text: greedy with ``beam`` 1, else the best of a beam search;
        ``batch_size`` texts are decoded together."""
        from ..seq2seq import beam_search, greedy_decode
        from .seq2seq_data import END, START, decode_target, encode_sources

        ids = encode_sources(texts, self.source_chars)
        attention = attention and self.attention
        if beam == 1:
            found = greedy_decode(self.encoder, self.decoder, ids, START, END, self.max_length,
                                  return_attention=attention, batch_size=batch_size)
        else:
            found = [best[0] for best in beam_search(self.encoder, self.decoder, ids, START, END, self.max_length,
                                                     beam_width=beam, length_penalty=length_penalty,
                                                     return_attention=attention, batch_size=batch_size)]
        return [Translation(decode_target(h.tokens, self.target_chars), h.tokens, h.attention) for h in found]
