"""The graph of a functional model: its nodes in order, forward keeping one cache per node,
and backward in reverse order with explicit gradients (no autodiff).

Forward runs the nodes from the inputs to the outputs; each node is one call of a layer and
keeps its own cache (``layer.forward``), so a layer called twice has two. Backward runs the
nodes in reverse: a node's output gradients are complete once every consumer has run, since
consumers come later in the forward order; ``layer.backward_from`` gives the gradients of the
node's inputs (and of its ``initial_state`` tensors), which are summed where a tensor feeds
several nodes, and the weight gradients, which are summed over the calls of a shared layer.

Masks travel with the tensors: each node's output mask is ``layer.compute_mask(inputs, mask)``
with ``mask`` the masks of its inputs (a list for a multi-input layer, None when no input has
one), as Keras propagates them from ``Embedding(mask_zero=True)`` or ``Masking``.
"""
from ..errors import RnnkitValueError
from ..layers.symbolic import flatten


def _node_of(tensor):
    layer, node_index, _ = tensor._keras_history
    return layer._inbound_nodes[node_index]


class Graph:
    """The nodes between ``inputs`` and ``outputs`` (flat lists of KerasTensors), in Keras's order.

    Attributes:
        nodes: the non-input nodes in execution order (deepest first).
        layers: every layer, input layers included, ordered as Keras orders ``model.layers``:
            by depth from the outputs (deepest first), ties by discovery from the outputs.
        nodes_by_depth: {depth: [nodes]}, depth 0 at the outputs.
    """

    def __init__(self, inputs, outputs):
        """``inputs``: KerasTensors of InputLayers; ``outputs``: KerasTensors computed from them."""
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        input_ids = {id(t) for t in self.inputs}
        finished, in_progress, post_order, layer_index = set(), set(), [], {}

        def visit(tensor):
            node = _node_of(tensor)
            if id(node) in in_progress:
                raise RnnkitValueError(f"the graph has a cycle through layer {node.layer.name!r}")
            if id(node) in finished:
                return
            layer_index.setdefault(id(node.layer), (len(layer_index), node.layer))
            in_progress.add(id(node))
            if id(tensor) not in input_ids:
                if node.is_input:
                    raise RnnkitValueError(
                        f"the graph is disconnected: the outputs need input {tensor.name!r} (shape "
                        f"{tensor.shape}), which is not among the model's inputs "
                        f"{[t.name for t in self.inputs]}")
                for parent in node.input_tensors:
                    visit(parent)
            finished.add(id(node))
            in_progress.discard(id(node))
            post_order.append(node)

        for tensor in self.outputs:
            visit(tensor)
        for tensor in self.inputs:
            if id(_node_of(tensor)) not in finished:
                visit(tensor)  # an input no output uses still belongs to the model (Keras keeps it)

        node_depth, layer_depth = {}, {}
        for node in reversed(post_order):
            depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
            layer_depth[id(node.layer)] = depth
            node_depth[id(node)] = depth
            for parent in node.input_tensors:
                parent_node = _node_of(parent)
                node_depth[id(parent_node)] = max(depth + 1, node_depth.get(id(parent_node), 0))

        self.nodes_by_depth = {}
        for node in reversed(post_order):
            self.nodes_by_depth.setdefault(node_depth[id(node)], []).append(node)
        self.all_nodes = [n for d in sorted(self.nodes_by_depth, reverse=True) for n in self.nodes_by_depth[d]]
        self.nodes = [n for n in self.all_nodes if not n.is_input]
        by_depth = sorted(layer_index.values(), key=lambda item: (-layer_depth[id(item[1])], item[0]))
        self.layers = [layer for _, layer in by_depth]
        self.node_ids = {id(n) for n in self.all_nodes}
        # after node i runs, the values only it still needed can go (inference keeps no caches)
        last_use = {}
        for i, node in enumerate(self.nodes):
            for tensor in node.input_tensors:
                last_use[id(tensor)] = i
        keep = {id(t) for t in self.outputs}
        self._free_after = [[] for _ in self.nodes]
        for key, i in last_use.items():
            if key not in keep:
                self._free_after[i].append(key)
        self._chain = self._as_chain()

    def _as_chain(self):
        """The layers in order when the graph is a plain chain: one input, each node calling its layer
        on the previous node's single output without keyword arguments, one output; else None."""
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            return None
        previous, chain = self.inputs[0], []
        for node in self.nodes:
            if node.call_inputs is not previous or node.call_kwargs or not node.single_output:
                return None
            chain.append(node.layer)
            previous = node.outputs[0]
        return chain if previous is self.outputs[0] else None

    # ------------------------------------------------------------------ forward
    def run(self, flat_inputs, training, input_masks=None, keep_caches=True):
        """Values of the outputs for ``flat_inputs`` (one array per input tensor).

        Returns (outputs, output masks, caches) with caches a list, one per node in
        :attr:`nodes` (None when ``keep_caches`` is False)."""
        if self._chain is not None and not keep_caches:
            # inference on a plain chain (what streaming predict_on_batch runs): the layers in turn, as
            # the general loop below runs them (Layer._graph_call without a cache)
            value, mask = flat_inputs[0], input_masks[0] if input_masks else None
            for layer in self._chain:
                out_mask = layer.compute_mask(value, mask)
                value = layer(value, training=training, mask=mask)
                mask = out_mask
            return [value], [mask], [None] * len(self._chain)
        values, masks = {}, {}
        input_masks = input_masks or [None] * len(self.inputs)
        for tensor, value, mask in zip(self.inputs, flat_inputs, input_masks):
            values[id(tensor)] = value
            masks[id(tensor)] = mask
        caches = []
        for index, node in enumerate(self.nodes):
            inputs, kwargs = node.resolve(values)
            if "mask" in kwargs:
                mask = kwargs.pop("mask")
            else:
                in_masks = [masks.get(id(t)) for t in flatten(node.call_inputs)]
                if isinstance(node.call_inputs, (list, tuple)):
                    mask = None if all(m is None for m in in_masks) else in_masks
                else:
                    mask = in_masks[0]
            outputs, out_mask, cache = node.layer._graph_call(inputs, training, mask, kwargs)
            flat_outputs = [outputs] if node.single_output else list(outputs)
            if len(flat_outputs) != len(node.outputs):
                raise RnnkitValueError(
                    f"layer {node.layer.name!r} returned {len(flat_outputs)} arrays where its symbolic call "
                    f"returned {len(node.outputs)}")
            if node.single_output:
                flat_masks = [out_mask]
            elif isinstance(out_mask, (list, tuple)):
                flat_masks = list(out_mask) + [None] * (len(flat_outputs) - len(out_mask))
            else:
                flat_masks = [out_mask] * len(flat_outputs) if out_mask is not None else [None] * len(flat_outputs)
            for tensor, value, mask_value in zip(node.outputs, flat_outputs, flat_masks):
                values[id(tensor)] = value
                masks[id(tensor)] = mask_value
            caches.append(cache if keep_caches else None)
            for key in self._free_after[index]:
                values.pop(key, None)
                masks.pop(key, None)
        return ([values[id(t)] for t in self.outputs], [masks.get(id(t)) for t in self.outputs], caches)

    # ------------------------------------------------------------------ backward
    def backward(self, caches, d_outputs):
        """Gradients of the inputs and of every layer's weights from one gradient per output.

        Args:
            caches: the caches :meth:`run` returned.
            d_outputs: one array (or None: no loss on that output) per output tensor.

        Returns:
            (d_inputs, layer_grads): a list with one gradient (or None) per input tensor, and
            {id(layer): weight gradients summed over the layer's calls}.
        """
        grads = {}

        def add(tensor, grad):
            if grad is None:
                return
            key = id(tensor)
            grads[key] = grad if key not in grads else grads[key] + grad

        for tensor, grad in zip(self.outputs, d_outputs):
            add(tensor, grad)
        layer_grads = {}
        for node, cache in zip(reversed(self.nodes), reversed(caches)):
            d_node = [grads.pop(id(t), None) for t in node.outputs]
            if all(g is None for g in d_node) and not getattr(cache, "carries_loss", False):
                continue  # nothing downstream of this call has a loss, nor the call itself
            if cache is None:
                raise RnnkitValueError(
                    f"backward needs the caches of a forward run with gradients enabled; the last run of layer "
                    f"{node.layer.name!r} kept none (predict and evaluate run under rnnkit.no_grad())")
            d_inputs, weight_grads = node.layer.backward_from(d_node[0] if node.single_output else d_node, cache)
            key = id(node.layer)
            if key in layer_grads:
                layer_grads[key] = [a + b for a, b in zip(layer_grads[key], weight_grads)]
            else:
                layer_grads[key] = list(weight_grads)
            for tensor, grad in zip(node.grad_tensors, node.flat_input_gradients(d_inputs)):
                add(tensor, grad)
        return [grads.get(id(t)) for t in self.inputs], layer_grads
