"""``rnnkit convert IN OUT``: convert a model or its weights between file formats (see rnnkit.io.convert)."""
HELP = "convert models and weights between .keras, .h5, .safetensors, .pt, .onnx and rnnkit files"
DESCRIPTION = """Convert a model or its weights from IN to OUT; the file names' extensions pick the formats.

  .keras  .h5  (Keras 3 / legacy Keras models)   .weights.h5  (Keras 3 weights)
  .safetensors  (weights)   .pt .pth  (a PyTorch state_dict; needs torch)   .onnx  (output only)
  .weights  (rnnkit weights)   any other name: an rnnkit model file

A weights-only IN needs the architecture: --model FILE (any model file), or --torch-kind KIND to
build the model from a torch state_dict (nn.RNN/LSTM/GRU/Linear/Embedding). --check runs the
model read from IN and the model read back from OUT (ONNX Runtime for .onnx) on the same random
inputs, and with --torch-kind also the torch module itself, prints the largest differences, and
fails (exit 1) above --tolerance.

examples:
  rnnkit convert model.keras model.onnx --check
  rnnkit convert lstm.pt lstm.keras --torch-kind LSTM --check
  rnnkit convert weights.safetensors model.rnnkit --model architecture.keras
  rnnkit convert model.rnnkit weights.safetensors --torch-names
"""


def add_arguments(parser):
    parser.add_argument("input", metavar="IN", help="the file to read")
    parser.add_argument("output", metavar="OUT", help="the file to write (its extension picks the format)")
    parser.add_argument("--model", metavar="FILE", help="model file giving the architecture for a weights-only IN")
    parser.add_argument("--torch-kind", choices=["RNN", "LSTM", "GRU", "Linear", "Embedding"],
                        help="build the model from IN's torch state_dict (.pt/.pth or .safetensors)")
    parser.add_argument("--nonlinearity", choices=["tanh", "relu"], default="tanh",
                        help="nn.RNN's nonlinearity, with --torch-kind RNN (default tanh)")
    parser.add_argument("--torch-names", action="store_true",
                        help="write .safetensors under PyTorch's names (to_state_dict) instead of rnnkit's")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset for .onnx output (default 17)")
    parser.add_argument("--mask-handling", choices=["sequence_lens", "exact"], default="sequence_lens",
                        help="ONNX: masked recurrent layers as operators with sequence_lens (trailing padding) "
                             "or as an exact Scan (any mask)")
    parser.add_argument("--check", action="store_true", help="compare IN's and OUT's outputs on random inputs")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest difference --check accepts (default 1e-4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs of --check (default 0)")


def run(args):
    from ..io import convert

    model = convert.read_model(args.input, args.model, args.torch_kind, args.nonlinearity)
    convert.write_model(model, args.output, args.torch_names, args.opset, args.mask_handling)
    print(f"wrote {args.output} ({convert.file_kind(args.output)}) from {args.input} ({convert.file_kind(args.input)})")
    if not args.check:
        return 0
    source = (args.input, args.torch_kind, args.nonlinearity) if args.torch_kind else None
    failed = False
    for difference, what in convert.check(model, args.output, args.seed, args.torch_names, source):
        verdict = "ok" if difference <= args.tolerance else f"FAILED: above --tolerance {args.tolerance:g}"
        print(f"check: largest absolute difference {difference:.3g} ({what}); {verdict}")
        failed = failed or difference > args.tolerance
    return 1 if failed else 0
