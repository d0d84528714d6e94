"""TF1's static_rnn with a DropoutWrapper, trained by hand: 8x8 digits read row by row.

The classic TF1 recipe: each image is 8 time steps of 8 pixels (TF1: ``tf.unstack(x, 8, 1)``);
a BasicLSTMCell inside ``DropoutWrapper(output_keep_prob=0.8)`` runs with ``static_rnn``; the last
output feeds a softmax layer trained with cross-entropy. TF1 differentiated its graph and an
optimizer's ``minimize`` applied the update; here ``static_rnn_backward`` gives the gradients
(nothing is autodiff) and Adam applies them. TF1 fed ``keep_prob`` 1.0 to evaluate; here the
wrapper's ``output_keep_prob`` is set to 1.0 for the evaluation.

Run:  python examples/static_rnn_dropout/static_rnn_dropout.py [--epochs 12]
"""
import argparse
import gzip
import os

import numpy as np

import rnnkit
from rnnkit.nn import rnn_cell, static_rnn, static_rnn_backward
from rnnkit.optimizers import Adam
from rnnkit.utils import to_categorical
from rnnkit.variables import Variable

DIGITS = os.path.join(os.path.dirname(rnnkit.__file__), "data", "digits.csv.gz")
TIMESTEPS, NUM_INPUT, NUM_HIDDEN, NUM_CLASSES = 8, 8, 32, 10


def load_digits():
    """(1797, 8, 8) pixels scaled to [0, 1] and the labels 0..9."""
    with gzip.open(DIGITS, "rt", encoding="ascii") as handle:
        table = np.loadtxt(handle, delimiter=",")
    return (table[:, :64] / 16.0).reshape(-1, TIMESTEPS, NUM_INPUT).astype(np.float32), table[:, 64].astype(int)


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class Model:
    """static_rnn over the rows, then logits = outputs[-1] W + b (TF1's weights['out'], biases['out'])."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.cell = rnn_cell.DropoutWrapper(rnn_cell.BasicLSTMCell(NUM_HIDDEN, forget_bias=1.0, seed=seed),
                                            output_keep_prob=0.8, seed=seed + 1)
        self.cell.build(NUM_INPUT)  # TF1 built on the first call; building now lets the weights be listed
        limit = np.sqrt(6.0 / (NUM_HIDDEN + NUM_CLASSES))
        self.out_w = Variable(rng.uniform(-limit, limit, (NUM_HIDDEN, NUM_CLASSES)).astype(np.float32), "out/w")
        self.out_b = Variable(np.zeros(NUM_CLASSES, np.float32), "out/b")

    def forward(self, images):
        steps = [images[:, t] for t in range(TIMESTEPS)]  # tf.unstack(x, timesteps, 1)
        outputs, _, cache = static_rnn(self.cell, steps, dtype=np.float32, return_cache=True)
        logits = outputs[-1] @ self.out_w.value + self.out_b.value
        return logits, (outputs[-1], cache)

    def gradients(self, logits, labels, saved):
        """Mean softmax cross-entropy and the gradients of every weight (cell first, then W, b)."""
        last, cache = saved
        probs = softmax(logits)
        onehot = to_categorical(labels, NUM_CLASSES)
        loss = float(-np.mean(np.sum(onehot * np.log(probs + 1e-12), axis=1)))
        d_logits = ((probs - onehot) / len(labels)).astype(np.float32)
        d_last = d_logits @ self.out_w.value.T
        _, _, cell_grads = static_rnn_backward(cache, [None] * (TIMESTEPS - 1) + [d_last])
        return loss, cell_grads + [last.T @ d_logits, d_logits.sum(axis=0)]

    @property
    def variables(self):
        return self.cell.weights + [self.out_w, self.out_b]

    def accuracy(self, images, labels):
        keep, self.cell.output_keep_prob = self.cell.output_keep_prob, 1.0  # no dropout to evaluate
        try:
            return float(np.mean(np.argmax(self.forward(images)[0], axis=1) == labels))
        finally:
            self.cell.output_keep_prob = keep


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    images, labels = load_digits()
    order = np.random.default_rng(0).permutation(len(labels))
    train, test = order[:1500], order[1500:]
    model, optimizer, rng = Model(), Adam(learning_rate=0.01), np.random.default_rng(1)
    print(f"static_rnn over {TIMESTEPS} steps of {NUM_INPUT} pixels; BasicLSTMCell({NUM_HIDDEN}) in "
          f"DropoutWrapper(output_keep_prob=0.8); {sum(v.value.size for v in model.variables)} weights")
    for epoch in range(1, args.epochs + 1):
        losses, shuffled = [], rng.permutation(train)
        for start in range(0, len(shuffled), args.batch_size):
            batch = shuffled[start:start + args.batch_size]
            logits, saved = model.forward(images[batch])
            loss, grads = model.gradients(logits, labels[batch], saved)
            optimizer.apply_gradients(zip(grads, model.variables))
            losses.append(loss)
        print(f"epoch {epoch:2d}  loss {np.mean(losses):.4f}  "
              f"train accuracy {model.accuracy(images[train], labels[train]):.3f}  "
              f"test accuracy {model.accuracy(images[test], labels[test]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
