"""TensorFlow 1's ``tf.nn.rnn_cell`` names and defaults, as thin adapters over the core cells.

Each class here owns one core cell (:mod:`rnnkit.cells`) and only translates:
TF1's constructor arguments into the core's, TF1's state structures into the
core's tuples and back, and TF1's lazy build (weights appear on the first call,
sized from the inputs' last axis). The weights stay in the core's Keras layout;
there is no second layout.

State structures (TF1's), for batch B:

* ``BasicRNNCell``, ``GRUCell``: one array (B, num_units).
* ``BasicLSTMCell``, ``LSTMCell``: ``LSTMStateTuple(c, h)`` — TF1's order, the core keeps
  ``(h, c)`` — or, with ``state_is_tuple=False``, one array ``[c, h]`` concatenated on axis 1.
* ``MultiRNNCell``: a tuple with one state per cell (or their concatenation with
  ``state_is_tuple=False``).

Beyond the core cells: the wrappers ``DropoutWrapper``, ``ResidualWrapper``, ``DeviceWrapper``
(:mod:`.wrappers`), TF1 contrib's ``LSTMBlockCell``, ``GRUBlockCell``,
``CoupledInputForgetGateLSTMCell`` (:mod:`.block_cells`) and ``LayerNormBasicLSTMCell``
(:mod:`.layer_norm_lstm`), all also under :mod:`rnnkit.contrib.rnn` with ``LSTMBlockFusedCell``
(:mod:`rnnkit.nn.lstm_block_fused`).

Initialisation differs from TF1 in one documented way: TF1 draws one
glorot_uniform matrix for the concatenated ``[inputs, state]`` kernel, rnnkit
draws ``kernel`` and ``recurrent_kernel`` separately with glorot_uniform (so
their limits use each matrix's own fan). Biases follow TF1 exactly.
"""
from .base import LSTMStateTuple, RNNCell, check_state_structure, flat_size
from .cells import BasicLSTMCell, BasicRNNCell, GRUCell, LSTMCell
from .multi import MultiRNNCell
from .block_cells import CoupledInputForgetGateLSTMCell, GRUBlockCell, GRUBlockCellV2, LSTMBlockCell
from .layer_norm_lstm import LayerNormBasicLSTMCell
from .wrappers import DeviceWrapper, DropoutWrapper, ResidualWrapper

__all__ = ["RNNCell", "BasicRNNCell", "BasicLSTMCell", "LSTMCell", "GRUCell", "MultiRNNCell", "LSTMStateTuple",
           "DropoutWrapper", "ResidualWrapper", "DeviceWrapper", "LSTMBlockCell", "GRUBlockCell", "GRUBlockCellV2",
           "CoupledInputForgetGateLSTMCell", "LayerNormBasicLSTMCell"]
