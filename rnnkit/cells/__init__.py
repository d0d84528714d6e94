"""Recurrent cells: parameters in Keras's layout, one step, and whole-sequence BPTT."""
from .base import RecurrentCell
from .simple_rnn import SimpleRNNCell

__all__ = ["RecurrentCell", "SimpleRNNCell"]
