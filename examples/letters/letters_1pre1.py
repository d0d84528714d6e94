"""The tutorials' letter-prediction script ("1pre1", and its "4pre1" sequel), written for rnnkit.

Only the imports differ from the tf.keras original: one-hot letters a..e, SimpleRNN(3) +
Dense(5, softmax), Adam(0.01), a best-only checkpoint that is reloaded when present,
weights.txt, accuracy and loss curves, then "how many letters to test?" on standard input.

Run:  python examples/letters/letters_1pre1.py            (files go to the current folder)
      python examples/letters/letters_1pre1.py --mode 4pre1 < answers.txt
"""
import argparse
import os

import numpy as np

import rnnkit
from rnnkit import Sequential
from rnnkit.callbacks import ModelCheckpoint
from rnnkit.layers import Dense, SimpleRNN
from rnnkit.losses import SparseCategoricalCrossentropy
from rnnkit.optimizers import Adam

INPUT_WORD = "abcde"
W_TO_ID = {c: i for i, c in enumerate(INPUT_WORD)}
ID_TO_ONEHOT = {i: np.eye(5, dtype=np.float32)[i] for i in range(5)}


def dataset(window):
    """x (5, window, 5): `window` consecutive one-hot letters; y (5,): the id of the letter after them."""
    x = np.array([[ID_TO_ONEHOT[(k + t) % 5] for t in range(window)] for k in range(5)], np.float32)
    y = np.array([(k + window) % 5 for k in range(5)])
    np.random.seed(7)  # the tutorial shuffles inputs and labels with the same seed
    np.random.shuffle(x)
    np.random.seed(7)
    np.random.shuffle(y)
    return x, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("1pre1", "4pre1"), default="1pre1")
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args(argv)
    window = 1 if args.mode == "1pre1" else 4

    rnnkit.set_random_seed(1)
    x_train, y_train = dataset(window)
    model = Sequential([SimpleRNN(3), Dense(5, activation="softmax")])
    model.compile(optimizer=Adam(0.01), loss=SparseCategoricalCrossentropy(from_logits=False),
                  metrics=["sparse_categorical_accuracy"])

    checkpoint_save_path = f"./checkpoint/rnn_onehot_{args.mode}.ckpt"
    if os.path.exists(checkpoint_save_path):
        print("-------------load the model-----------------")
        model.build((None, window, 5))
        model.load_weights(checkpoint_save_path)
    cp_callback = ModelCheckpoint(filepath=checkpoint_save_path, save_weights_only=True, save_best_only=True,
                                  monitor="loss")
    history = model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, callbacks=[cp_callback], verbose=2)
    model.summary()

    with open("./weights.txt", "w") as file:
        for v in model.trainable_variables:
            file.write(str(v.name) + "\n")
            file.write(str(v.shape) + "\n")
            file.write(str(v.numpy()) + "\n")

    acc = history.history["sparse_categorical_accuracy"]
    loss = history.history["loss"]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no curves drawn")
    else:
        plt.subplot(1, 2, 1)
        plt.plot(acc, label="Training Accuracy")
        plt.title("Training Accuracy")
        plt.legend()
        plt.subplot(1, 2, 2)
        plt.plot(loss, label="Training Loss")
        plt.title("Training Loss")
        plt.legend()
        plt.savefig(f"letters_{args.mode}.png")
        print(f"curves saved to letters_{args.mode}.png")

    try:
        pre_num = int(input("input the number of test letters:"))
        for _ in range(pre_num):
            alphabet = input("input test letters:").strip()
            if len(alphabet) != window or any(c not in W_TO_ID for c in alphabet):
                print(f"expected {window} letters from {INPUT_WORD}, got {alphabet!r}")
                continue
            x = np.array([[ID_TO_ONEHOT[W_TO_ID[c]] for c in alphabet]], np.float32)
            pred = int(np.argmax(model.predict(x), axis=1)[0])
            print(alphabet + "->" + INPUT_WORD[pred])
    except (EOFError, ValueError):
        print("no (more) letters to test")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
