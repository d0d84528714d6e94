"""``tf.contrib.rnn`` under its TF1 names: the contrib cells and the core cells, wrappers and RNN functions.

A TF1 script written against ``tf.contrib.rnn`` ports by importing this module in its place
(``from rnnkit.contrib import rnn`` for ``tf.contrib.rnn``). The backward functions
(``static_rnn_backward``, ...) are rnnkit's: nothing here is autodiff.
"""
from ..nn.lstm_block_fused import LSTMBlockFusedCell
from ..nn.rnn import bidirectional_dynamic_rnn, bidirectional_dynamic_rnn_backward, dynamic_rnn, dynamic_rnn_backward
from ..nn.rnn_cell import (BasicLSTMCell, BasicRNNCell, CoupledInputForgetGateLSTMCell, DeviceWrapper,
                           DropoutWrapper, GRUBlockCell, GRUBlockCellV2, GRUCell, LayerNormBasicLSTMCell,
                           LSTMBlockCell, LSTMCell, LSTMStateTuple, MultiRNNCell, ResidualWrapper,
                           RNNCell)
from ..nn.static import (static_bidirectional_rnn, static_bidirectional_rnn_backward, static_rnn,
                             static_rnn_backward)

__all__ = ["RNNCell", "BasicRNNCell", "BasicLSTMCell", "LSTMCell", "GRUCell", "MultiRNNCell", "LSTMStateTuple",
           "DropoutWrapper", "ResidualWrapper", "DeviceWrapper", "LSTMBlockCell", "LSTMBlockFusedCell",
           "GRUBlockCell", "GRUBlockCellV2", "CoupledInputForgetGateLSTMCell", "LayerNormBasicLSTMCell",
           "static_rnn", "static_rnn_backward", "static_bidirectional_rnn", "static_bidirectional_rnn_backward",
           "dynamic_rnn", "dynamic_rnn_backward", "bidirectional_dynamic_rnn", "bidirectional_dynamic_rnn_backward"]
