"""GatedCell: the base of the cells with gates (LSTM, GRU, MGU): their two activations, once."""
from ..ops.activations import get_activation, serialize_activation
from .base import RecurrentCell


class GatedCell(RecurrentCell):
    """A cell with gates: Keras's ``activation`` (the candidate's, act) and ``recurrent_activation``
    (the gates', σ), resolved once, handed to the ops and kept in the config.

    Args:
        units: H.
        activation: act, "tanh" by default.
        recurrent_activation: σ, "sigmoid" by default.
        Other arguments: see :class:`RecurrentCell`.
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, **kwargs)
        self.activation = get_activation(activation)
        self.recurrent_activation = get_activation(recurrent_activation)

    def op_options(self):
        return {"activation": self.activation, "recurrent_activation": self.recurrent_activation}

    def get_config(self):
        return {**super().get_config(), "activation": serialize_activation(self.activation),
                "recurrent_activation": serialize_activation(self.recurrent_activation)}
