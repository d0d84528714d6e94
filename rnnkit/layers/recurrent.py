"""What SimpleRNN, LSTM, GRU and MGU share: an RNN layer that makes its own cell from Keras's arguments."""
from .._validate import accepted_keywords
from .rnn import RNN

# Cell config entries that belong to the layer itself, not to the cell's arguments.
_LAYER_OWNED = ("name", "dtype", "seed")


class CellLayer(RNN):
    """An :class:`RNN` whose cell is built from the layer's own arguments.

    Subclasses set ``cell_class`` and write the Keras signature; their ``__init__`` hands its
    arguments on as they are, ``super().__init__(**constructor_arguments(locals()))``: those the
    cell class takes make the cell, the others go to :class:`RNN`. The layer's ``get_config`` then
    lists them flat (Keras's form, no nested ``cell``), and the cell's attributes (``units``,
    ``activation``, ...) read through the layer.
    """

    cell_class = None

    def __init__(self, *, seed=None, dtype="float32", **arguments):
        accepted = accepted_keywords(self.cell_class) or set()
        cell_kwargs = {name: arguments.pop(name) for name in list(arguments)
                       if name in accepted and name not in _LAYER_OWNED}
        cell = self.cell_class(**cell_kwargs, seed=seed, dtype=dtype)
        super().__init__(cell, seed=seed, dtype=dtype, **arguments)

    def __getattr__(self, name):
        # Only called when normal lookup fails: expose the cell's constructor arguments.
        cell = self.__dict__.get("cell")
        if cell is not None and not name.startswith("_") and name in cell.get_config():
            return getattr(cell, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_config(self):
        config = super().get_config()
        config.update({k: v for k, v in self.cell.get_config().items() if k not in _LAYER_OWNED})
        config.setdefault("activity_regularizer", None)  # in the signature, so in the config (Keras: None if unset)
        return config


def constructor_arguments(local_names):
    """A constructor's arguments by keyword, from its ``locals()`` taken first thing: ``self`` (and the
    ``__class__`` cell of ``super()``) left out, ``**kwargs`` merged in."""
    arguments = {name: value for name, value in local_names.items() if name not in ("self", "__class__", "kwargs")}
    return {**arguments, **local_names.get("kwargs", {})}
