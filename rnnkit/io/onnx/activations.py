"""rnnkit's activations as ONNX: elementwise ops for primitive graphs, and the names (with the
alpha/beta they consume) the LSTM/GRU/RNN operators accept in their ``activations`` attribute.

Keras 3's hard_sigmoid is relu6(x + 3) / 6 = clip(x/6 + 1/2, 0, 1): ONNX HardSigmoid with
alpha = 1/6, beta = 1/2 (ONNX's default 0.2 is Keras 2's, a different function).
"""
from ...ops.activations import get_activation
from .graph import OnnxExportError

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805

# rnnkit name -> (ONNX op, attributes) for a plain elementwise node
_ELEMENTWISE = {
    "tanh": ("Tanh", {}), "sigmoid": ("Sigmoid", {}), "relu": ("Relu", {}), "linear": ("Identity", {}),
    "hard_sigmoid": ("HardSigmoid", {"alpha": 1.0 / 6.0, "beta": 0.5}), "softsign": ("Softsign", {}),
    "softplus": ("Softplus", {}), "elu": ("Elu", {"alpha": 1.0}),
    "selu": ("Selu", {"alpha": _SELU_ALPHA, "gamma": _SELU_SCALE}),
}

# rnnkit name -> (name in a recurrent op's ``activations``, alpha or None, beta or None). ONNX Runtime
# consumes activation_alpha/beta only for the functions that take them, in order (checked in the tests).
_RECURRENT = {
    "tanh": ("Tanh", None, None), "sigmoid": ("Sigmoid", None, None), "relu": ("Relu", None, None),
    "linear": ("Affine", 1.0, 0.0), "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),
    "softsign": ("Softsign", None, None), "softplus": ("Softplus", None, None), "elu": ("Elu", 1.0, None),
}


def activation_name(activation):
    return get_activation(activation).name


def apply(g, x, activation, hint=None, where="a layer"):
    """``activation(x)`` as ONNX nodes; "softmax"/"log_softmax" act on the last axis."""
    if activation in ("softmax", "log_softmax"):
        return g.unary("Softmax" if activation == "softmax" else "LogSoftmax", x, hint, axis=-1)
    name = activation_name(activation)
    if name not in _ELEMENTWISE:
        raise OnnxExportError(f"{where} uses activation {name!r}, which has no ONNX export; exportable: "
                              f"{sorted(_ELEMENTWISE)}")
    op_type, attrs = _ELEMENTWISE[name]
    if op_type == "Identity":
        return x
    return g.unary(op_type, x, hint or name, **attrs)


def check_elementwise(activation, where):
    """Raise the named error :func:`apply` would, without building anything."""
    if activation not in ("softmax", "log_softmax") and activation_name(activation) not in _ELEMENTWISE:
        raise OnnxExportError(f"{where} uses activation {activation_name(activation)!r}, which has no ONNX export; "
                              f"exportable: {sorted(_ELEMENTWISE)}")


def recurrent_attributes(activations):
    """``activations`` / ``activation_alpha`` / ``activation_beta`` attributes for a recurrent op, or None
    when one of them is not among the op's functions (the layer then takes the primitive route)."""
    names, alphas, betas = [], [], []
    for activation in activations:
        entry = _RECURRENT.get(activation_name(activation))
        if entry is None:
            return None
        names.append(entry[0])
        if entry[1] is not None:
            alphas.append(entry[1])
        if entry[2] is not None:
            betas.append(entry[2])
    attrs = {"activations": names}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs
