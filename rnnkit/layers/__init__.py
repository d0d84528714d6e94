"""The Keras face's layers: Layer, Dense, RNN, SimpleRNN, LSTM, GRU, Bidirectional, and the cells."""
from ..cells.gru import GRUCell
from ..cells.lstm import LSTMCell
from ..cells.simple_rnn import SimpleRNNCell
from ..cells.stacked import StackedRNNCells
from .base import Layer, deserialize_layer, reset_name_counters, serialize_layer
from .bidirectional import Bidirectional
from .dense import Dense
from .gru import GRU
from .lstm import LSTM
from .rnn import RNN
from .simple_rnn import SimpleRNN

__all__ = [
    "Layer", "Dense", "RNN", "SimpleRNN", "LSTM", "GRU", "Bidirectional",
    "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells",
    "serialize_layer", "deserialize_layer", "reset_name_counters",
]
