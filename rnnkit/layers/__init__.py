"""The Keras face's layers: recurrent layers and their cells, Dense, Embedding, Masking, Dropout,
TimeDistributed, Flatten and Activation; Input and InputLayer for functional models."""
from ..cells.gru import GRUCell
from ..cells.lstm import LSTMCell
from ..cells.simple_rnn import SimpleRNNCell
from ..cells.stacked import StackedRNNCells
from .base import Layer, deserialize_layer, reset_name_counters, serialize_layer
from .bidirectional import Bidirectional
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .gru import GRU
from .input_layer import Input, InputLayer
from .lstm import LSTM
from .masking import Masking
from .reshaping import Activation, Flatten
from .rnn import RNN
from .simple_rnn import SimpleRNN
from .time_distributed import TimeDistributed

__all__ = [
    "Layer", "Input", "InputLayer", "Dense", "RNN", "SimpleRNN", "LSTM", "GRU", "Bidirectional",
    "Embedding", "Masking", "Dropout", "TimeDistributed", "Flatten", "Activation",
    "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells",
    "serialize_layer", "deserialize_layer", "reset_name_counters",
]
