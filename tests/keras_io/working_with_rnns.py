"""The models of keras-io's guides/working_with_rnns.py (Keras 3), in order, sizes as the guide's.

Line for line the guide's Keras code: Sequential Embedding -> LSTM -> Dense; Embedding -> GRU
(return_sequences) -> SimpleRNN -> Dense; an encoder-decoder whose encoder LSTM's states
(``return_state=True``) are the decoder LSTM's ``initial_state``; a stateful LSTM called on three
paragraphs, ``reset_states()``; state reuse (``lstm_layer.states`` as another layer's initial
state); stacked Bidirectional LSTMs; ``build_model`` with ``LSTM(input_shape=...)`` or
``RNN(LSTMCell(...))``, BatchNormalization, trained with ``SparseCategoricalCrossentropy(from_logits=True)``
and compared on the same weights.
Not the guide's: MNIST (a download) is replaced by a small synthetic set of 28x28 "images" (1
epoch on 256 of them); the guide's ``with tf.device("CPU:0")`` block, which calls TensorFlow
itself (tf.argmax, tf.expand_dims, .numpy(), plt.imshow), becomes its NumPy twin; the last section
(a custom cell on nested inputs written with ``keras.ops``) needs autodiff and is left out: rnnkit
takes custom cells with an explicit backward (``rnnkit.testing.check_cell``).
tests/test_keras_io_ports.py runs it with `import keras` and `from keras import layers` swapped
for rnnkit's and nothing else changed.
"""
import numpy as np

import keras
from keras import layers

np.random.seed(0)

model = keras.Sequential()
# Add an Embedding layer expecting input vocab of size 1000, and
# output embedding dimension of size 64.
model.add(layers.Embedding(input_dim=1000, output_dim=64))

# Add a LSTM layer with 128 internal units.
model.add(layers.LSTM(128))

# Add a Dense layer with 10 units.
model.add(layers.Dense(10))

model.build((None, 12))  # the guide's summary shows an unbuilt model; built, the counts can be checked
model.summary()

model = keras.Sequential()
model.add(layers.Embedding(input_dim=1000, output_dim=64))

# The output of GRU will be a 3D tensor of shape (batch_size, timesteps, 256)
model.add(layers.GRU(256, return_sequences=True))

# The output of SimpleRNN will be a 2D tensor of shape (batch_size, 128)
model.add(layers.SimpleRNN(128))

model.add(layers.Dense(10))

model.build((None, 12))
model.summary()

encoder_vocab = 1000
decoder_vocab = 2000

encoder_input = layers.Input(shape=(None,))
encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=64)(
    encoder_input
)

# Return states in addition to output
output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(
    encoder_embedded
)
encoder_state = [state_h, state_c]

decoder_input = layers.Input(shape=(None,))
decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=64)(
    decoder_input
)

# Pass the 2 states to a new LSTM layer, as initial state
decoder_output = layers.LSTM(64, name="decoder")(
    decoder_embedded, initial_state=encoder_state
)
output = layers.Dense(10)(decoder_output)

model = keras.Model([encoder_input, decoder_input], output)
model.summary()
encoder_ids = np.random.randint(0, encoder_vocab, size=(3, 7))
decoder_ids = np.random.randint(0, decoder_vocab, size=(3, 5))
print("encoder-decoder output:", model.predict([encoder_ids, decoder_ids], verbose=0).shape)

paragraph1 = np.random.random((20, 10, 50)).astype(np.float32)
paragraph2 = np.random.random((20, 10, 50)).astype(np.float32)
paragraph3 = np.random.random((20, 10, 50)).astype(np.float32)

lstm_layer = layers.LSTM(64, stateful=True)
output = lstm_layer(paragraph1)
output = lstm_layer(paragraph2)
output = lstm_layer(paragraph3)

# reset_states() will reset the cached state to the original initial_state.
# If no initial_state was provided, zero-states will be used by default.
lstm_layer.reset_states()
print("reset to zeros:", all(not np.any(np.asarray(state)) for state in lstm_layer.states))

paragraph1 = np.random.random((20, 10, 50)).astype(np.float32)
paragraph2 = np.random.random((20, 10, 50)).astype(np.float32)
paragraph3 = np.random.random((20, 10, 50)).astype(np.float32)

lstm_layer = layers.LSTM(64, stateful=True)
output = lstm_layer(paragraph1)
output = lstm_layer(paragraph2)

existing_state = lstm_layer.states

new_lstm_layer = layers.LSTM(64)
new_output = new_lstm_layer(paragraph3, initial_state=existing_state)
print("state reuse:", tuple(new_output.shape))

model = keras.Sequential()

model.add(layers.Input(shape=(5, 10)))
model.add(layers.Bidirectional(layers.LSTM(64, return_sequences=True)))
model.add(layers.Bidirectional(layers.LSTM(32)))
model.add(layers.Dense(10))

model.summary()

batch_size = 64
# Each MNIST image batch is a tensor of shape (batch_size, 28, 28).
# Each input sequence will be of size (28, 28) (height is treated like time).
input_dim = 28

units = 64
output_size = 10  # labels are from 0 to 9


# Build the RNN model
def build_model(allow_cudnn_kernel=True):
    # CuDNN is only available at the layer level, and not at the cell level.
    # This means `LSTM(units)` will use the CuDNN kernel,
    # while RNN(LSTMCell(units)) will run on non-CuDNN kernel.
    if allow_cudnn_kernel:
        # The LSTM layer with default options uses CuDNN.
        lstm_layer = keras.layers.LSTM(units, input_shape=(None, input_dim))
    else:
        # Wrapping a LSTMCell in a RNN layer will not use CuDNN.
        lstm_layer = keras.layers.RNN(
            keras.layers.LSTMCell(units), input_shape=(None, input_dim)
        )
    model = keras.models.Sequential(
        [
            lstm_layer,
            keras.layers.BatchNormalization(),
            keras.layers.Dense(output_size),
        ]
    )
    return model


def load_data():
    """Stand-in for keras.datasets.mnist.load_data: uint8 28x28 images whose label is the brightest row band."""
    images = np.random.randint(0, 64, size=(320, 28, 28)).astype("uint8")
    labels = np.random.randint(0, 10, size=320).astype("uint8")
    for image, label in zip(images, labels):
        image[2 * label + 4:2 * label + 8] += 160
    return (images[:256], labels[:256]), (images[256:], labels[256:])


(x_train, y_train), (x_test, y_test) = load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0
sample, sample_label = x_train[0], y_train[0]

model = build_model(allow_cudnn_kernel=True)

model.compile(
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    optimizer="sgd",
    metrics=["accuracy"],
)

history = model.fit(
    x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size, epochs=1
)
print("history keys:", sorted(k for k in history.history if k != "grad_norm"))

noncudnn_model = build_model(allow_cudnn_kernel=False)
noncudnn_model.set_weights(model.get_weights())
noncudnn_model.compile(
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    optimizer="sgd",
    metrics=["accuracy"],
)
noncudnn_model.fit(
    x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size, epochs=1
)

# The guide runs this block under `with tf.device("CPU:0"):` with tf.argmax / tf.expand_dims.
cpu_model = build_model(allow_cudnn_kernel=True)
cpu_model.set_weights(model.get_weights())
result = np.argmax(cpu_model.predict_on_batch(np.expand_dims(sample, 0)), axis=1)
print(
    "Predicted result is: %s, target result is: %s" % (result, sample_label)
)
same = np.allclose(cpu_model.predict_on_batch(x_test), model.predict_on_batch(x_test), atol=1e-5)
print("same weights, same predictions:", same)
