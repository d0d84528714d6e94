"""Run one layer's ONNX converter alone, in ONNX Runtime, and rnnkit's layer on the same arrays."""
import numpy as np


def run_converter(layer, inputs, masks=None, initial_state=None, mask_handling="sequence_lens", opset=17, **call):
    """ONNX Runtime's outputs of the graph made by ``layer``'s converter, whose inputs are ``inputs``
    (a list of arrays), ``masks`` (None or one bool array or None per input) and ``initial_state``
    (None or a list of arrays); ``call`` holds the call's keyword arguments."""
    import onnxruntime as ort

    from rnnkit.io.onnx.exporter import _Context
    from rnnkit.io.onnx.graph import GraphBuilder

    g = GraphBuilder(opset)
    ctx = _Context(g, mask_handling)
    feeds, values, mask_values = {}, [], []
    for index, array in enumerate(inputs):
        # batch dynamic, and time too for sequences
        shape = (None,) + tuple(None if axis == 1 and array.ndim >= 3 else d
                                for axis, d in enumerate(array.shape[1:], 1))
        values.append(g.add_input(f"x{index}", array.dtype, shape))
        feeds[f"x{index}"] = array
    for index, mask in enumerate(masks or [None] * len(inputs)):
        if mask is None:
            mask_values.append(None)
            continue
        mask_values.append(g.add_input(f"mask{index}", np.bool_, (None,) * mask.ndim))
        feeds[f"mask{index}"] = mask
    if initial_state is not None:
        call["initial_state"] = []
        for index, state in enumerate(initial_state):
            call["initial_state"].append(g.add_input(f"state{index}", state.dtype, (None, state.shape[-1])))
            feeds[f"state{index}"] = state
    outputs, _ = ctx.convert(layer, values, mask_values, **call)
    for index, value in enumerate(outputs):
        g.add_output(value, f"out{index}")
    proto = g.model("layer", "test")
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_converter_matches(layer, inputs, masks=None, atol=1e-5, **call):
    """The converter's outputs equal ``layer``'s on the same inputs (called with the same masks and keywords)."""
    arguments = {k: v for k, v in call.items() if k not in ("mask_handling", "opset")}
    single = len(inputs) == 1 and not _multi_input(layer)
    expected = layer(inputs[0] if single else list(inputs), mask=(masks[0] if single and masks else masks),
                     **arguments)
    expected = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    theirs = run_converter(layer, inputs, masks, **call)
    assert len(theirs) == len(expected)
    for a, b in zip(theirs, expected):
        assert a.shape == b.shape, (a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    return theirs


def _multi_input(layer):
    return any(cls.__name__ == "MultiInputLayer" for cls in type(layer).__mro__)
