"""Losses of the Keras model face (``rnnkit.losses``): Keras 3's losses with their reduction and explicit
gradients, the functional forms, and the registry ``compile(loss=...)`` resolves through.

The reduction, masks and sample weights are described in :mod:`rnnkit.losses_base` (the Loss base
class and the cross-entropies, MSE, MAE, Huber); the other Keras 3 losses live beside it
(``losses_regression``, ``losses_hinge``, ``losses_probabilistic``) and Keras's functional forms
(``rnnkit.losses.mean_squared_error(y_true, y_pred)``, ...) in ``losses_functional``; all are exported
here. ``compile`` takes a loss as a name, an object, a class or one of those functions; any other
function is refused, since rnnkit cannot differentiate it: subclass :class:`Loss` with ``call`` and
``call_gradient`` instead. (The base lives in its own module so that the modules beside it import it
without an import cycle.)
"""
from . import object_registry
from ._validate import describe
from .errors import RnnkitTypeError, RnnkitValueError
from .losses_base import (EPSILON, BinaryCrossentropy, CategoricalCrossentropy, ElementwiseLoss, Huber, Loss,
                          MeanAbsoluteError, MeanSquaredError, SparseCategoricalCrossentropy, check_labels)
from .losses_regression import (CosineSimilarity, LogCosh, MeanAbsolutePercentageError,
                                MeanSquaredLogarithmicError)
from .losses_hinge import CategoricalHinge, Hinge, SquaredHinge
from .losses_probabilistic import (BinaryFocalCrossentropy, CategoricalFocalCrossentropy,
                                   CategoricalGeneralizedCrossEntropy, KLDivergence, Poisson)
from .losses_functional import (ALIASES, FUNCTION_CLASSES, binary_crossentropy,
                                binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy,
                                categorical_generalized_cross_entropy, categorical_hinge, check_loss_gradient,
                                cosine_similarity, hinge, huber, kl_divergence, kld, kullback_leibler_divergence,
                                log_cosh, logcosh, loss_from_function, mae, mape, mean_absolute_error,
                                mean_absolute_percentage_error, mean_squared_error, mean_squared_logarithmic_error,
                                msle, mse, no_gradient_error, poisson, sparse_categorical_crossentropy, squared_hinge)

_CLASSES = (
    SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy,
    MeanSquaredError, MeanAbsoluteError, Huber, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
    CosineSimilarity, LogCosh, Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson,
    BinaryFocalCrossentropy, CategoricalFocalCrossentropy, CategoricalGeneralizedCrossEntropy,
)
_REGISTRY = {cls.__name__: cls for cls in _CLASSES}
_REGISTRY.update({cls.default_name: cls for cls in _CLASSES})
_REGISTRY.update({function.__name__: cls for function, cls in FUNCTION_CLASSES.items()})
_REGISTRY.update({alias: FUNCTION_CLASSES[function] for alias, function in ALIASES.items()})
# Keras 3's upper-case short names
_REGISTRY.update({"huber": Huber, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy, "MSE": MeanSquaredError,
                  "MAE": MeanAbsoluteError, "MAPE": MeanAbsolutePercentageError, "MSLE": MeanSquaredLogarithmicError,
                  "KLD": KLDivergence})


def get(identifier):
    """Resolve a loss: an instance, a name (``"mse"``, ``"sparse_categorical_crossentropy"``,
    ``"SparseCategoricalCrossentropy"``, ...), a ``{"class_name", "config"}`` dict, a Loss class,
    or one of this module's functional forms (``rnnkit.losses.sparse_categorical_crossentropy``;
    a ``functools.partial`` of one keeps its arguments).

    A name gives the loss with Keras's default arguments and the name as given (so
    ``get("mse").name == "mse"``, as Keras reports it). Any other function is refused with an
    error saying how to give rnnkit a loss it can differentiate.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return _REGISTRY[identifier](name=identifier if identifier[0].islower() else None)
    if isinstance(identifier, dict) and identifier.get("class_name") in _REGISTRY \
            and not identifier.get("registered_name"):
        return _REGISTRY[identifier["class_name"]].from_config(dict(identifier.get("config", {})))
    custom = _custom_loss(identifier)
    if custom is not None:
        return custom
    if isinstance(identifier, (str, dict)):
        raise RnnkitValueError(f"loss must be one of {sorted(_REGISTRY)} or a registered custom Loss "
                               f"(rnnkit.saving.register_keras_serializable), got {describe(identifier)}")
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        loss = loss_from_function(identifier)
        if loss is None:
            raise no_gradient_error(identifier)
        return loss
    raise RnnkitTypeError(f"loss must be a name, a config dict or an rnnkit Loss, got {describe(identifier)}")


def serialize(loss):
    """``{"class_name": ..., "config": ...}`` for a loss (``"registered_name"`` too for a registered custom
    class); :func:`get` reverses it."""
    return object_registry.serialize_object(loss, "loss")


def _custom_loss(identifier):
    """A user's Loss subclass named by a config dict or a name, from the registry / custom object scope."""
    if isinstance(identifier, dict):
        names = [identifier.get("registered_name"), identifier.get("class_name")]
    elif isinstance(identifier, str):
        names = [identifier]
    else:
        return None
    for name in names:
        found = object_registry.get_registered_object(name) if isinstance(name, str) else None
        if isinstance(found, type) and issubclass(found, Loss):
            config = identifier.get("config") if isinstance(identifier, dict) else None
            return found.from_config(dict(config or {}))
    return None


__all__ = ["EPSILON", "Loss", "ElementwiseLoss", "check_labels", "check_loss_gradient", "get", "serialize",
           "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy", "MeanSquaredError",
           "MeanAbsoluteError", "Huber", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
           "CosineSimilarity", "LogCosh", "Hinge", "SquaredHinge", "CategoricalHinge", "KLDivergence", "Poisson",
           "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "CategoricalGeneralizedCrossEntropy",
           "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
           "mean_squared_logarithmic_error", "cosine_similarity", "huber", "log_cosh", "hinge", "squared_hinge",
           "categorical_hinge", "kl_divergence", "poisson", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "binary_crossentropy", "binary_focal_crossentropy",
           "categorical_focal_crossentropy", "categorical_generalized_cross_entropy", "mse", "mae", "mape", "msle",
           "kld", "kullback_leibler_divergence", "logcosh", "loss_from_function", "no_gradient_error"]
