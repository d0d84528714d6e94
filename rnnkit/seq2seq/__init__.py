"""Inference for encoder-decoder (sequence-to-sequence) models: greedy decoding and beam search.

Train one model on ``[source, target_in] -> target_out`` (teacher forcing), then build two
inference models from its trained layers, as the keras-io ``lstm_seq2seq`` example does::

    encoder_model = rnnkit.Model(encoder_inputs, [state_h, state_c])          # or [sequence, h, c]
    decoder_model = rnnkit.Model([token_input, state_h_in, state_c_in],       # (+ the sequence input)
                                 [probabilities, new_h, new_c])               # (+ attention weights)
    best = rnnkit.seq2seq.greedy_decode(encoder_model, decoder_model, source, start_token=1,
                                        end_token=2, max_length=30)
    top3 = rnnkit.seq2seq.beam_search(encoder_model, decoder_model, source, start_token=1,
                                      end_token=2, max_length=30, beam_width=5, num_results=3)

:mod:`rnnkit.seq2seq.stepper` states the protocol between the two models exactly.
"""
from .beam import beam_search
from .greedy import greedy_decode
from .hypothesis import Hypothesis

__all__ = ["Hypothesis", "beam_search", "greedy_decode"]
