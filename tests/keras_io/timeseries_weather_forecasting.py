"""A small version of keras-io's examples/timeseries/timeseries_weather_forecasting.py (Keras 3).

The Keras code is the example's, line for line (sizes made small); the data is a synthetic
stand-in for the Jena climate CSV (7 daily-periodic features with noise) so the script runs
offline in seconds. tests/test_keras_io_ports.py runs it with `import keras` swapped for
`import rnnkit as keras` and nothing else changed.
"""
import numpy as np

import keras

rng = np.random.default_rng(0)
hours = np.arange(3000)
features = np.stack([np.sin(2 * np.pi * hours / 144 + k) + 0.1 * rng.standard_normal(hours.size)
                     for k in range(7)], axis=1).astype("float32")

split_fraction = 0.715
train_split = int(split_fraction * int(features.shape[0]))
step = 6

past = 120
future = 12
learning_rate = 0.001
batch_size = 64
epochs = 3


def normalize(data, train_split):
    data_mean = data[:train_split].mean(axis=0)
    data_std = data[:train_split].std(axis=0)
    return (data - data_mean) / data_std


features = normalize(features, train_split)
train_data = features[0 : train_split - 1]
val_data = features[train_split:]

start = past + future
end = start + train_split

x_train = train_data[:, [i for i in range(7)]]
y_train = features[start:end][:, [1]]

sequence_length = int(past / step)

dataset_train = keras.preprocessing.timeseries_dataset_from_array(
    x_train,
    y_train,
    sequence_length=sequence_length,
    sampling_rate=step,
    batch_size=batch_size,
)

x_end = len(val_data) - past - future

label_start = train_split + past + future

x_val = val_data[:x_end][:, [i for i in range(7)]]
y_val = features[label_start:][:, [1]]

dataset_val = keras.preprocessing.timeseries_dataset_from_array(
    x_val,
    y_val,
    sequence_length=sequence_length,
    sampling_rate=step,
    batch_size=batch_size,
)


for batch in dataset_train.take(1):
    inputs, targets = batch

print("Input shape:", inputs.numpy().shape)
print("Target shape:", targets.numpy().shape)

inputs = keras.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
lstm_out = keras.layers.LSTM(32)(inputs)
outputs = keras.layers.Dense(1)(lstm_out)

model = keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
model.summary()

path_checkpoint = "model_checkpoint.weights.h5"
es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)

modelckpt_callback = keras.callbacks.ModelCheckpoint(
    monitor="val_loss",
    filepath=path_checkpoint,
    verbose=1,
    save_weights_only=True,
    save_best_only=True,
)

history = model.fit(
    dataset_train,
    epochs=epochs,
    validation_data=dataset_val,
    callbacks=[es_callback, modelckpt_callback],
)

loss = history.history["loss"]
val_loss = history.history["val_loss"]
print("loss", " ".join(f"{value:.4f}" for value in loss))
print("val_loss", " ".join(f"{value:.4f}" for value in val_loss))

for x, y in dataset_val.take(5):
    prediction = model.predict(x)[0]
    print("history", float(x[0][:, 1].numpy()[-1]), "true future", float(y[0].numpy()[0]),
          "model prediction", float(prediction[0]))
