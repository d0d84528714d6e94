"""The Keras face's layers: recurrent layers and their cells, Dense, Embedding, Masking, Dropout,
TimeDistributed, Flatten and Activation; merge layers, attention, normalization, Conv1D and pooling,
noise, reshaping and Lambda; Input and InputLayer for functional models."""
from ..cells.gru import GRUCell
from ..cells.lstm import LSTMCell
from ..cells.mgu import MGUCell
from ..cells.simple_rnn import SimpleRNNCell
from ..cells.stacked import StackedRNNCells
from .attention import AdditiveAttention, Attention
from .base import Layer, deserialize_layer, reset_name_counters, serialize_layer
from .batch_normalization import BatchNormalization
from .bidirectional import Bidirectional
from .concatenate import Concatenate, concatenate
from .conv1d import Conv1D
from .dense import Dense
from .dot import Dot, dot
from .dropout import Dropout
from .embedding import Embedding
from .global_pooling import GlobalAveragePooling1D, GlobalMaxPooling1D
from .gru import GRU
from .input_layer import Input, InputLayer
from .lambda_layer import Lambda
from .layer_normalization import LayerNormalization
from .lstm import LSTM
from .masking import Masking
from .merge import (Add, Average, Maximum, Minimum, Multiply, Subtract, add, average, maximum, minimum, multiply,
                    subtract)
from .mgu import MGU
from .noise import GaussianNoise, SpatialDropout1D
from .permute import Permute
from .pooling import AveragePooling1D, MaxPooling1D
from .repeat_vector import RepeatVector
from .reshape import Reshape
from .reshaping import Activation, Flatten
from .rnn import RNN
from .simple_rnn import SimpleRNN
from .time_distributed import TimeDistributed

__all__ = [
    "Layer", "Input", "InputLayer", "Dense", "RNN", "SimpleRNN", "LSTM", "GRU", "MGU", "Bidirectional",
    "Embedding", "Masking", "Dropout", "TimeDistributed", "Flatten", "Activation",
    "SimpleRNNCell", "LSTMCell", "GRUCell", "MGUCell", "StackedRNNCells",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "RepeatVector", "Reshape", "Permute", "Attention", "AdditiveAttention",
    "LayerNormalization", "BatchNormalization", "Conv1D", "MaxPooling1D", "AveragePooling1D",
    "GlobalAveragePooling1D", "GlobalMaxPooling1D", "SpatialDropout1D", "GaussianNoise",
    "Lambda", "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
    "serialize_layer", "deserialize_layer", "reset_name_counters",
]
