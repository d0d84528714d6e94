"""The tutorials' action-recognition model on rnnkit: three stacked ReLU LSTMs over 5 frames of 126 keypoints.

The original reads hand and pose keypoints (126 numbers a frame) from a camera; here each
action is a synthetic keypoint motion, so the script runs anywhere:
    frame_t = base_pose + t * velocity[action] + noise        (t = 0..4)
The model is the tutorial's: LSTM(64, relu) -> LSTM(128, relu) -> LSTM(64, relu) ->
Dense(64, relu) -> Dense(32, relu) -> Dense(n_actions, softmax), 203,459 weights for three actions.

Run:  python examples/action_model/action_model.py [--epochs 30]
"""
import argparse

import numpy as np

import rnnkit
from rnnkit import Sequential
from rnnkit.layers import LSTM, Dense

ACTIONS = np.array(["hello", "thanks", "iloveyou"])


def action_motions(rng):
    """A resting pose (126,) and one keypoint velocity per action (3, 126): what defines each action."""
    return rng.uniform(0.3, 0.7, 126), rng.normal(0, 0.05, (len(ACTIONS), 126))


def keypoint_sequences(motions, per_action, rng):
    """x (3 * per_action, 5, 126) noisy keypoint frames of each action and one-hot labels y (3 * per_action, 3)."""
    base, velocity = motions
    labels = np.repeat(np.arange(len(ACTIONS)), per_action)
    t = np.arange(5)[None, :, None]
    x = base + t * velocity[labels][:, None, :] + rng.normal(0, 0.02, (len(labels), 5, 126))
    return x.astype(np.float32), np.eye(len(ACTIONS), dtype=np.float32)[labels]


def build_model():
    model = Sequential()
    model.add(LSTM(64, return_sequences=True, activation="relu", input_shape=(5, 126)))
    model.add(LSTM(128, return_sequences=True, activation="relu"))
    model.add(LSTM(64, return_sequences=False, activation="relu"))
    model.add(Dense(64, activation="relu"))
    model.add(Dense(32, activation="relu"))
    model.add(Dense(ACTIONS.shape[0], activation="softmax"))
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args(argv)

    rnnkit.set_random_seed(0)
    rng = np.random.default_rng(0)
    motions = action_motions(rng)
    x_train, y_train = keypoint_sequences(motions, 40, rng)
    x_test, y_test = keypoint_sequences(motions, 10, rng)
    model = build_model()
    model.summary()
    model.compile(optimizer="Adam", loss="categorical_crossentropy", metrics=["categorical_accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=16, verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}  test accuracy {accuracy:.4f}")
    predicted = ACTIONS[np.argmax(model.predict(x_test[:3]), axis=1)]
    print("first three test sequences:", ", ".join(predicted), "| truth:",
          ", ".join(ACTIONS[np.argmax(y_test[:3], axis=1)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
