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


def test_fit_arguments_go_to_config_as_keras_ran_them(store_dir):
    model, x, y = model_and_data()
    model.fit(x, y, epochs=2, batch_size=6, validation_split=0.25, shuffle=False, verbose=0,
              callbacks=[NbtrackCallback(name="args")])
    row = nbtrack.runs(name="args").to_dict("records")[0]
    # 24 rows, a quarter held out: 18 to train in batches of 6.
    assert (row["config.epochs"], row["config.batch_size"], row["config.steps_per_epoch"]) == (2, 6, 3)
    assert row["config.validation_split"] == 0.25
    assert (row["config.shuffle"], row["config.initial_epoch"]) == (False, 0)
    assert row["config.validation_freq"] == 1


def test_without_a_batch_size_the_config_holds_the_one_keras_used(store_dir):
    model, x, y = model_and_data()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[NbtrackCallback(name="default-batch")])
    row = nbtrack.runs(name="default-batch").to_dict("records")[0]
    assert (row["config.batch_size"], row["config.steps_per_epoch"]) == (32, 1)


def test_the_learning_rate_is_logged_per_epoch_and_per_batch_as_the_schedule_gave_it(store_dir):
    model, x, y = model_and_data()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="binary_crossentropy")
    callback = NbtrackCallback(log_freq="batch", name="lr")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callback])
    rate = [float(keras.ops.convert_to_numpy(schedule(step))) for step in range(1, 7)]
    # After batch i the optimizer has taken i + 1 steps; epochs end after batches 2 and 5.
    assert series("lr", "batch/learning_rate") == list(enumerate(rate))
    assert series("lr", "learning_rate") == [(2, rate[2]), (5, rate[5])]
    assert rate[0] != rate[1]  # the schedule really moved


def test_a_learning_rate_scheduler_callback_is_recorded_once_per_epoch(store_dir):
    model, x, y = model_and_data()
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch: 0.02 * 0.5 ** epoch)
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[scheduler, NbtrackCallback(name="sched")])
    expected = [float(np.float32(0.02 * 0.5 ** epoch)) for epoch in range(3)]
    assert series("sched", "learning_rate") == list(enumerate(expected))


def test_log_model_true_logs_the_trained_model_once_and_it_loads_back(store_dir):
    model, x, y = model_and_data()
    callback = NbtrackCallback(name="saved", log_model=True)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callback])
    name = f"model-{callback.run.id}"
    (version,) = nbtrack.artifacts(name)["version"]
    art = nbtrack.use_artifact(f"{name}:v{version}")
    assert art.type == "model" and art.metadata["epoch"] == 1
    assert art.metadata["loss"] == series("saved", "loss")[-1][1]
    loaded = keras.saving.load_model(art.file())
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_log_model_epoch_logs_every_epoch_and_marks_the_best_monitored_one(store_dir):
    model, x, y = model_and_data()
    recorder = Recorder()
    callback = NbtrackCallback(name="each", log_model="epoch", model_name="tiny-mlp", monitor="val_loss")
    model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0, callbacks=[recorder, callback])
    arts = [nbtrack.use_artifact(f"tiny-mlp:v{v}") for v in range(3)]
    assert [a.metadata["epoch"] for a in arts] == [0, 1, 2]
    val = [logs["val_loss"] for logs in recorder.epochs]
    assert [a.metadata["val_loss"] for a in arts] == val
    best = min(range(3), key=val.__getitem__)
    assert best != 2  # on this data val_loss rises: the best is not simply the latest
    assert [a.aliases for a in arts] == [["best"] if i == best else [] for i in range(3)]


def test_a_model_that_cannot_be_saved_warns_once_and_training_goes_on(store_dir, monkeypatch):
    model, x, y = model_and_data()

    def refuse(*args, **kwargs):
        raise ValueError("cannot serialize this layer")

    monkeypatch.setattr(model, "save", refuse)
    recorder = Recorder()
    with pytest.warns(nbtrack.NbtrackWarning, match="cannot serialize") as caught:
        model.fit(x, y, epochs=3, batch_size=8, verbose=0,
                  callbacks=[recorder, NbtrackCallback(name="unsaved", log_model="epoch")])
    assert sum("cannot serialize" in str(w.message) for w in caught) == 1
    assert len(recorder.epochs) == 3 and len(series("unsaved", "loss")) == 3
    assert nbtrack.run_record("unsaved")["status"] == "finished"
    assert len(nbtrack.artifacts()) == 0


def test_bad_log_model_or_mode_say_what_is_allowed():
    with pytest.raises(nbtrack.NbtrackError, match="False, True or 'epoch'"):
        NbtrackCallback(log_model="best")
    with pytest.raises(nbtrack.NbtrackError, match="'min' or 'max'"):
        NbtrackCallback(mode="lowest")


def test_a_rate_that_cannot_be_read_leaves_the_epochs_metrics_logged(store_dir, monkeypatch):
    def unreadable(value):
        raise TypeError("no single rate here")

    # Only the public keras.ops name: Keras's own training code uses keras.src.ops.
    monkeypatch.setattr(keras.ops, "convert_to_numpy", unreadable)
    model, x, y = model_and_data()
    recorder = Recorder()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[recorder, NbtrackCallback(name="opaque")])
    assert series("opaque", "loss") == [(e, logs["loss"]) for e, logs in enumerate(recorder.epochs)]
    assert "learning_rate" not in set(nbtrack.history("opaque")["key"])


def test_a_diverged_epoch_is_saved_without_its_nan_metric(store_dir):
    model, x, y = model_and_data()
    model.compile(optimizer="sgd", loss="mse")
    y_bad = y.copy()
    y_bad[0] = np.nan  # the loss of every epoch becomes NaN
    callback = NbtrackCallback(name="nan", log_model=True)
    model.fit(x, y_bad, epochs=1, batch_size=8, verbose=0, callbacks=[callback])
    (version,) = nbtrack.artifacts(f"model-{callback.run.id}")["version"]
    art = nbtrack.use_artifact(f"model-{callback.run.id}:v{version}")
    assert art.metadata["epoch"] == 0 and "loss" not in art.metadata
