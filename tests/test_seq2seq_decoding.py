"""rnnkit.seq2seq: greedy decoding and beam search against brute force over every sequence of a tiny
vocabulary, scored by the training model (teacher forcing) — so the inference models built from the
trained layers are checked against it too."""
import itertools

import numpy as np
import pytest

import rnnkit
from rnnkit import layers as L
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.seq2seq import Hypothesis, beam_search, greedy_decode

VOCAB, START, END = 4, 3, 2          # target ids 0..3; 3 starts, 2 ends
SOURCE_VOCAB, UNITS = 7, 6


def _spread_weights(model, seed, scale=1.2):
    """Random weights large enough that the next-token distributions differ from step to step."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, scale, w.shape).astype(w.dtype) for w in model.get_weights()])


def attention_models(cell="gru", mask_zero=False, seed=0):
    """(training model, encoder, decoder): Embedding -> cell(return_state) encoder; Embedding -> cell
    decoder from the encoder's states; Luong attention over the encoder's sequence; softmax."""
    rnn = {"gru": L.GRU, "lstm": L.LSTM}[cell]
    src = rnnkit.Input((None,), dtype="int32")
    encoded = rnn(UNITS, return_sequences=True, return_state=True)(L.Embedding(SOURCE_VOCAB, 3, mask_zero=mask_zero)
                                                                     (src))
    sequence, states = encoded[0], encoded[1:]
    tgt = rnnkit.Input((None,), dtype="int32")
    embed, decoder_rnn = L.Embedding(VOCAB, 3), rnn(UNITS, return_sequences=True, return_state=True)
    attend, join, dense = L.Attention(), L.Concatenate(), L.Dense(VOCAB, activation="softmax")
    decoded = decoder_rnn(embed(tgt), initial_state=states)[0]
    train = rnnkit.Model([src, tgt], dense(join([attend([decoded, sequence]), decoded])))
    _spread_weights(train, seed)

    encoder = rnnkit.Model(src, [sequence, *states])
    token, memory = rnnkit.Input((1,), dtype="int32"), rnnkit.Input((None, UNITS))
    state_inputs = [rnnkit.Input((UNITS,)) for _ in states]
    step = decoder_rnn(embed(token), initial_state=state_inputs)
    context, weights = attend([step[0], memory], return_attention_scores=True)
    decoder = rnnkit.Model([token, memory, *state_inputs], [dense(join([context, step[0]])), *step[1:], weights])
    return train, encoder, decoder


def lstm_seq2seq_models(tokens=5, latent=6, seed=0):
    """The keras-io lstm_seq2seq shape: one-hot tokens in, LSTM states only (no memory)."""
    encoder_inputs = rnnkit.Input(shape=(None, tokens))
    _, state_h, state_c = L.LSTM(latent, return_state=True)(encoder_inputs)
    decoder_inputs = rnnkit.Input(shape=(None, tokens))
    decoder_lstm = L.LSTM(latent, return_sequences=True, return_state=True)
    decoder_dense = L.Dense(tokens, activation="softmax")
    outputs = decoder_dense(decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])[0])
    train = rnnkit.Model([encoder_inputs, decoder_inputs], outputs)
    _spread_weights(train, seed)
    encoder = rnnkit.Model(encoder_inputs, [state_h, state_c])
    h_in, c_in = rnnkit.Input(shape=(latent,)), rnnkit.Input(shape=(latent,))
    out, h, c = decoder_lstm(decoder_inputs, initial_state=[h_in, c_in])
    decoder = rnnkit.Model([decoder_inputs, h_in, c_in], [decoder_dense(out), h, c])
    return train, encoder, decoder


def all_sequences(max_length):
    """Every target a search can return: k non-end tokens then the end token (k < max_length), and
    the max_length-long sequences without it (cut); as (tokens with the end token if any, finished)."""
    others = [t for t in range(VOCAB) if t != END]
    for length in range(max_length):
        for body in itertools.product(others, repeat=length):
            yield list(body) + [END], True
    for body in itertools.product(others, repeat=max_length):
        yield list(body), False


def brute_force(train, source_row, max_length, length_penalty):
    """Every sequence scored by the training model with teacher forcing, best first."""
    scored = []
    for tokens, finished in all_sequences(max_length):
        target_in = np.array([[START] + tokens[:-1]])
        probabilities = train.predict([source_row[None], target_in])[0]
        log_prob = float(np.sum(np.log(probabilities[np.arange(len(tokens)), tokens].astype(np.float64))))
        body = tokens[:-1] if finished else tokens
        scored.append((log_prob / len(tokens) ** length_penalty, log_prob, body, finished))
    scored.sort(key=lambda item: -item[0])
    return scored


SOURCES = np.array([[1, 2, 3, 4], [5, 6, 1, 1], [2, 2, 6, 3]])


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_wide_beam_search_is_the_brute_force_ranking(length_penalty):
    train, encoder, decoder = attention_models(seed=3)
    max_length = 4
    results = beam_search(encoder, decoder, SOURCES, START, END, max_length=max_length, beam_width=81,
                          num_results=12, length_penalty=length_penalty)
    for row, found in zip(SOURCES, results):
        expected = brute_force(train, row, max_length, length_penalty)[:12]
        assert [h.tokens.tolist() for h in found] == [e[2] for e in expected]
        assert [h.finished for h in found] == [e[3] for e in expected]
        np.testing.assert_allclose([h.score for h in found], [e[0] for e in expected], rtol=1e-5)
        np.testing.assert_allclose([h.log_prob for h in found], [e[1] for e in expected], rtol=1e-5)
    # the penalty changes the ranking on this model (so the test tells the two apart)
    plain = brute_force(train, SOURCES[0], max_length, 0.0)[0][2]
    mean = brute_force(train, SOURCES[0], max_length, 1.0)[0][2]
    assert plain != mean


def test_narrow_beams_score_what_they_return_and_widen_to_the_optimum():
    train, encoder, decoder = attention_models(cell="lstm", seed=5)
    best_scores = []
    for width in (1, 2, 4, 81):
        found = beam_search(encoder, decoder, SOURCES[:1], START, END, max_length=4, beam_width=width,
                            num_results=width if width < 4 else 4)[0]
        assert [h.score for h in found] == sorted((h.score for h in found), reverse=True)
        for h in found:  # each hypothesis' log-probability is the training model's for its tokens
            tokens = h.tokens.tolist() + ([END] if h.finished else [])
            p = train.predict([SOURCES[:1], np.array([[START] + tokens[:-1]])])[0]
            assert h.log_prob == pytest.approx(float(np.sum(np.log(p[np.arange(len(tokens)), tokens]))), rel=1e-5)
        best_scores.append(found[0].score)
    assert best_scores[-1] == pytest.approx(brute_force(train, SOURCES[0], 4, 0.0)[0][0], rel=1e-6)
    assert best_scores[-1] >= max(best_scores) - 1e-9


def test_greedy_decode_takes_the_argmax_of_the_training_model_at_each_step():
    train, encoder, decoder = attention_models(seed=1)
    for hyp, row in zip(greedy_decode(encoder, decoder, SOURCES, START, END, max_length=6), SOURCES):
        tokens, log_prob = [], 0.0
        for _ in range(6):
            p = train.predict([row[None], np.array([[START] + tokens])])[0, -1]
            tokens.append(int(np.argmax(p)))
            log_prob += float(np.log(p[tokens[-1]]))
            if tokens[-1] == END:
                break
        finished = tokens[-1] == END
        assert hyp.tokens.tolist() == (tokens[:-1] if finished else tokens) and hyp.finished == finished
        assert hyp.log_prob == pytest.approx(log_prob, rel=1e-5) and hyp.score == hyp.log_prob
        assert isinstance(hyp, Hypothesis) and hyp.tokens.dtype == np.int64 and hyp.attention is None


def test_beam_of_one_without_penalty_is_greedy():
    _, encoder, decoder = attention_models(seed=2)
    sources = np.random.default_rng(0).integers(0, SOURCE_VOCAB, (12, 5))
    greedy = greedy_decode(encoder, decoder, sources, START, END, max_length=7)
    beams = beam_search(encoder, decoder, sources, START, END, max_length=7, beam_width=1)
    for g, b in zip(greedy, beams):
        assert g.tokens.tolist() == b[0].tokens.tolist() and g.finished == b[0].finished
        assert g.log_prob == pytest.approx(b[0].log_prob, rel=1e-6)


def test_batches_decode_as_single_sources():
    _, encoder, decoder = attention_models(seed=4)
    sources = np.random.default_rng(1).integers(0, SOURCE_VOCAB, (9, 4))
    together = beam_search(encoder, decoder, sources, START, END, max_length=5, beam_width=3, num_results=3)
    chunked = beam_search(encoder, decoder, sources, START, END, max_length=5, beam_width=3, num_results=3,
                          batch_size=2)
    greedy_together = greedy_decode(encoder, decoder, sources, START, END, max_length=5)
    for i, row in enumerate(sources):
        alone = beam_search(encoder, decoder, row[None], START, END, max_length=5, beam_width=3, num_results=3)[0]
        for a, b, c in zip(alone, together[i], chunked[i]):
            assert a.tokens.tolist() == b.tokens.tolist() == c.tokens.tolist()
            assert a.score == pytest.approx(b.score, rel=1e-6) and a.score == pytest.approx(c.score, rel=1e-6)
        single = greedy_decode(encoder, decoder, row[None], START, END, max_length=5, batch_size=1)[0]
        assert single.tokens.tolist() == greedy_together[i].tokens.tolist()


def test_one_hot_tokens_and_states_only_as_in_lstm_seq2seq():
    tokens = 5
    train, encoder, decoder = lstm_seq2seq_models(tokens=tokens, seed=7)
    source = np.eye(tokens, dtype=np.float32)[np.random.default_rng(2).integers(0, tokens, (4, 6))]
    start, end = 0, 4
    for hyp, row in zip(greedy_decode(encoder, decoder, source, start, end, max_length=5), source):
        ids = [start]
        for _ in range(5):
            p = train.predict([row[None], np.eye(tokens, dtype=np.float32)[ids][None]])[0, -1]
            ids.append(int(np.argmax(p)))
            if ids[-1] == end:
                break
        generated = ids[1:]
        assert hyp.tokens.tolist() == (generated[:-1] if generated[-1] == end else generated)
    wide = beam_search(encoder, decoder, source[:1], start, end, max_length=3, beam_width=25, num_results=2)[0]
    assert len(wide) == 2 and wide[0].score >= wide[1].score


def test_attention_weights_follow_the_tokens_and_skip_masked_padding():
    _, encoder, decoder = attention_models(mask_zero=True, seed=6)
    short = np.array([[3, 1, 5]])
    padded = np.array([[3, 1, 5, 0, 0]])
    a = greedy_decode(encoder, decoder, short, START, END, max_length=6, return_attention=True)[0]
    b = greedy_decode(encoder, decoder, padded, START, END, max_length=6, return_attention=True)[0]
    assert a.tokens.tolist() == b.tokens.tolist()
    assert a.attention.shape == (len(a.tokens) + a.finished, 3) and b.attention.shape == (len(b.tokens) + b.finished, 5)
    np.testing.assert_allclose(b.attention[:, :3], a.attention, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b.attention[:, 3:], 0.0, atol=1e-7)
    np.testing.assert_allclose(a.attention.sum(axis=1), 1.0, rtol=1e-5)
    for hyp in beam_search(encoder, decoder, padded, START, END, max_length=6, beam_width=3, num_results=3,
                           return_attention=True)[0]:
        assert hyp.attention.shape == (len(hyp.tokens) + hyp.finished, 5)
        np.testing.assert_allclose(hyp.attention[:, 3:], 0.0, atol=1e-7)


def test_without_end_token_every_source_decodes_max_length_tokens():
    _, encoder, decoder = attention_models(seed=8)
    for hyp in greedy_decode(encoder, decoder, SOURCES, START, None, max_length=5):
        assert len(hyp.tokens) == 5 and not hyp.finished
    for found in beam_search(encoder, decoder, SOURCES, START, None, max_length=3, beam_width=2, num_results=2):
        assert all(len(h.tokens) == 3 and not h.finished for h in found)


def test_logits_decoder():
    _, encoder, decoder = attention_models(seed=9)
    token, memory, h = decoder.inputs
    probabilities, new_h, _ = decoder.outputs
    logits = L.Lambda(np.log)(probabilities)  # log p: softmax(log p) = p, so the same decoding
    logit_decoder = rnnkit.Model([token, memory, h], [logits, new_h])
    a = greedy_decode(encoder, decoder, SOURCES, START, END, max_length=5)
    b = greedy_decode(encoder, logit_decoder, SOURCES, START, END, max_length=5, from_logits=True)
    for x, y in zip(a, b):
        assert x.tokens.tolist() == y.tokens.tolist() and x.log_prob == pytest.approx(y.log_prob, rel=1e-5)


def test_bad_arguments_and_models_are_named():
    _, encoder, decoder = attention_models(seed=0)
    cases = [
        (dict(start_token=-1), RnnkitValueError, "start_token"),
        (dict(end_token=99), RnnkitValueError, "end_token"),
        (dict(end_token=True), RnnkitValueError, "end_token"),
        (dict(max_length=0), RnnkitValueError, "max_length"),
        (dict(batch_size=0), RnnkitValueError, "batch_size"),
    ]
    for kwargs, error, word in cases:
        args = dict(start_token=START, end_token=END) | kwargs
        with pytest.raises(error, match=word):
            greedy_decode(encoder, decoder, SOURCES, **args)
    with pytest.raises(RnnkitValueError, match="num_results"):
        beam_search(encoder, decoder, SOURCES, START, END, beam_width=2, num_results=3)
    with pytest.raises(RnnkitValueError, match="length_penalty"):
        beam_search(encoder, decoder, SOURCES, START, END, length_penalty=-1)
    with pytest.raises(RnnkitValueError, match="beam_width"):
        beam_search(encoder, decoder, SOURCES, START, END, beam_width=0)
    with pytest.raises(RnnkitTypeError, match="decoder"):
        greedy_decode(encoder, "decoder", SOURCES, START, END)
    token, memory, h = decoder.inputs
    no_states = rnnkit.Model([token, memory, h], decoder.outputs[0])
    with pytest.raises(RnnkitValueError, match="new states"):
        greedy_decode(encoder, no_states, SOURCES, START, END)
    no_weights = rnnkit.Model([token, memory, h], decoder.outputs[:2])
    with pytest.raises(RnnkitValueError, match="return_attention"):
        greedy_decode(encoder, no_weights, SOURCES, START, END, return_attention=True)
    with pytest.raises(RnnkitValueError, match="a decoder with 3 inputs"):
        greedy_decode(rnnkit.Model(encoder.inputs, encoder.outputs[1]), decoder, SOURCES, START, END)
    _, one_hot_encoder, one_hot_decoder = lstm_seq2seq_models(tokens=5)
    with pytest.raises(RnnkitValueError, match="start_token"):
        greedy_decode(one_hot_encoder, one_hot_decoder, np.zeros((1, 2, 5), np.float32), 5, 1)
