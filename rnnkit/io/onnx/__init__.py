"""ONNX export: ``rnnkit.io.onnx.export(model, path, opset=17)`` or ``model.export(path, format="onnx")``.

The graph is built with the ``onnx`` package (the optional extra ``rnnkit[onnx]``, imported only
when exporting) and runs in ONNX Runtime with rnnkit's results (inference; dropout is the identity).

What becomes what:

- SimpleRNN / LSTM / GRU (and ``RNN`` of such cells, stacked cells, Bidirectional): ONNX's own
  ``RNN`` / ``LSTM`` / ``GRU`` operators with Keras's weights reordered (:mod:`.recurrent_native`),
  including initial states, ``go_backwards`` (direction "reverse"), Bidirectional (direction
  "bidirectional" when both halves match), peepholes (input P, order i, o, f), ``forget_bias``
  (folded into the bias), reset-after GRU (``linear_before_reset=1``) and reset-before GRU
  (``linear_before_reset=0``), and the activations the operators have (tanh, sigmoid, relu,
  hard_sigmoid, linear, softsign, softplus, elu);
- what those operators cannot express — LSTM projection (``num_proj``/``proj_clip``),
  ``cell_clip`` (ONNX's ``clip`` bounds the gate pre-activations, rnnkit's bounds c_t), coupled
  input-forget gates, selu — runs as a ``Scan`` of primitive ops (:mod:`.recurrent_scan`), with
  the time axis still dynamic; so do float64 layers (ONNX Runtime's GRU operator refuses double);
- masks (``Embedding(mask_zero=True)``, ``Masking``): ``sequence_lens`` computed in the graph from
  the input, exact for trailing padding; ``mask_handling="exact"`` runs masked layers as a Scan
  exact for any mask (see :mod:`.recurrent`);
- Dense (MatMul, Add, activation), Embedding (Gather), Dropout (identity), Masking, TimeDistributed
  (fold time into batch), Activation, Flatten, Reshape, Permute, RepeatVector (:mod:`.layers`);
- the merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum with Keras 3's mask rules,
  Concatenate, Dot as an Einsum) (:mod:`.merging`), Attention and AdditiveAttention (dot/concat/
  additive scores, value and causal masks, ``return_attention_scores``) (:mod:`.attention`),
  LayerNormalization and BatchNormalization at inference (:mod:`.normalization`).

Anything else is an :class:`OnnxExportError` naming every layer that cannot be exported.
Stateful layers export as a fresh call (zero initial states).
"""
from .exporter import DEFAULT_OPSET, MASK_HANDLING, SUPPORTED_OPSETS, export, export_model, to_model_proto
from .graph import OnnxExportError

__all__ = ["export", "export_model", "to_model_proto", "OnnxExportError", "DEFAULT_OPSET", "SUPPORTED_OPSETS",
           "MASK_HANDLING"]
