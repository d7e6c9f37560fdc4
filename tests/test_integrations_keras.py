"""NbtrackCallback with real Keras 3 on the torch backend (CPU): exact per-epoch and per-batch points."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nbtrack

# Keras reads its backend once, at import; TensorFlow is not a dependency here.
os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch", reason="the torch backend needs PyTorch (pip install torch)")
keras = pytest.importorskip("keras", reason="Keras is not installed (pip install keras)")
if keras.backend.backend() != "torch":
    pytest.skip(f"Keras was imported with the {keras.backend.backend()!r} backend before this module "
                "could choose 'torch'", allow_module_level=True)

from nbtrack.integrations.keras import NbtrackCallback  # noqa: E402


class Recorder(keras.callbacks.Callback):
    """What Keras reported to callbacks, for comparing with the store."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[dict] = []
        self.batches: list[dict] = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(dict(logs))

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(dict(logs))


def model_and_data():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(24, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")], name="tiny")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model, x, y


def series(name, key):
    h = nbtrack.history(name, keys=key)
    return list(zip(h["step"], h["value"]))


def test_epoch_logging_stores_what_keras_reported_and_the_model_in_config(store_dir):
    model, x, y = model_and_data()
    recorder = Recorder()
    model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0,
              callbacks=[recorder, NbtrackCallback(name="keras-epochs", project="k")])
    (row,) = nbtrack.runs(project="k").to_dict("records")
    assert (row["name"], row["status"]) == ("keras-epochs", "finished")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert series("keras-epochs", key) == [(e, logs[key]) for e, logs in enumerate(recorder.epochs)]
    assert not any(key.startswith("batch/") for key in nbtrack.history("keras-epochs")["key"])
    # 4*3+3 + 3*1+1 weights; the optimizer as Keras describes it.
    assert (row["config.model.params"], row["config.model.trainable_params"]) == (19, 19)
    assert row["config.model.name"] == "tiny" and row["config.epochs"] == 3
    assert row["config.optimizer.name"] == "adam"
    assert row["config.optimizer.learning_rate"] == pytest.approx(0.01)
    assert row["summary.val_loss"] == recorder.epochs[-1]["val_loss"]


@pytest.mark.parametrize("log_freq, every", [("batch", 1), (2, 2)])
def test_batch_logging_counts_batches_on_one_step_axis(store_dir, log_freq, every):
    model, x, y = model_and_data()
    recorder = Recorder()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0,
              callbacks=[recorder, NbtrackCallback(log_freq=log_freq, name="keras-batches")])
    batch_loss = [(i, logs["loss"]) for i, logs in enumerate(recorder.batches) if (i + 1) % every == 0]
    assert series("keras-batches", "batch/loss") == batch_loss
    assert len(recorder.batches) == 6
    # Each epoch's point sits at the step of its last batch (3 batches per epoch).
    epochs = [(2, recorder.epochs[0]["loss"]), (5, recorder.epochs[1]["loss"])]
    assert series("keras-batches", "loss") == epochs


def test_inside_an_active_run_it_logs_there_and_leaves_it_open(store_dir):
    run = nbtrack.init(name="outer", config={"epochs": 99})
    model, x, y = model_and_data()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[NbtrackCallback()])
    assert not run._finished and nbtrack.active_run() is run
    run.finish()
    (row,) = nbtrack.runs().to_dict("records")
    assert row["config.epochs"] == 99  # the user's own config wins
    assert row["config.model.params"] == 19
    assert [s for s, _ in series("outer", "loss")] == [0, 1]


def test_a_fit_that_raised_leaves_its_run_failed_at_the_next_fit(store_dir):
    class Explode(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise RuntimeError("boom")

    model, x, y = model_and_data()
    callback = NbtrackCallback(name="again")
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[callback, Explode()])
    first = callback.run
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[callback])
    assert first.status == "failed" and callback.run.status == "finished"
    assert set(nbtrack.runs(name="again")["status"]) == {"failed", "finished"}


def test_a_bad_log_freq_says_what_is_allowed():
    with pytest.raises(nbtrack.NbtrackError, match="'epoch', 'batch' or a positive integer"):
        NbtrackCallback(log_freq="step")
