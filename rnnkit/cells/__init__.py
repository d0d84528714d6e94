"""Recurrent cells: parameters in Keras's layout, one step, and whole-sequence BPTT."""
from .base import RecurrentCell
from .dispatch import reference_only
from .gru import GRUCell
from .lstm import LSTMCell
from .mgu import MGUCell
from .simple_rnn import SimpleRNNCell
from .stacked import StackedRNNCells

__all__ = ["RecurrentCell", "SimpleRNNCell", "LSTMCell", "GRUCell", "MGUCell", "StackedRNNCells", "reference_only"]
