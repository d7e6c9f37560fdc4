"""NbtrackLogger with a real Lightning Trainer on CPU: exact metrics, config, statuses."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack.errors import NbtrackWarning

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")
L = pytest.importorskip("lightning", reason="Lightning is not installed (pip install lightning)")

from nbtrack.integrations.lightning import NbtrackLogger  # noqa: E402


class Regression(L.LightningModule):
    def __init__(self, lr: float = 0.1, arch: dict | None = None, fail_at: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["fail_at"])
        self.lin = torch.nn.Linear(3, 1)
        self.fail_at = fail_at

    def _loss(self, batch):
        x, target = batch
        return torch.nn.functional.mse_loss(self.lin(x).squeeze(-1), target)

    def training_step(self, batch, batch_idx):
        if self.global_step == self.fail_at:
            raise ValueError("diverged")
        loss = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class Recorder(L.Callback):
    """What Lightning itself computed: (global step, training loss) per batch."""

    def __init__(self) -> None:
        self.losses: list[tuple[int, float]] = []
        self.val_losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append((trainer.global_step, outputs["loss"].item()))

    def on_validation_epoch_end(self, trainer, pl_module):
        self.val_losses.append(trainer.callback_metrics["val_loss"].item())


def fit(logger, tmp_path, fail_at=None) -> Recorder:
    torch.manual_seed(0)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    recorder = Recorder()
    trainer = L.Trainer(
        max_epochs=2, logger=logger, callbacks=[recorder], log_every_n_steps=1, accelerator="cpu",
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, num_sanity_val_steps=0,
    )
    trainer.fit(Regression(arch={"depth": 2, "act": "relu"}, fail_at=fail_at), loader, loader)
    return recorder


def test_fit_outside_a_run_starts_and_finishes_its_own_run(store_dir, tmp_path):
    logger = NbtrackLogger(name="lit", project="lightning", config={"data": {"rows": 32}})
    recorder = fit(logger, tmp_path)

    (row,) = nbtrack.runs(project="lightning").to_dict("records")
    assert (row["name"], row["status"]) == ("lit", "finished")
    assert (logger.name, logger.version) == ("lit", row["id"])
    assert logger.experiment.id == row["id"] and logger.experiment.status == "finished"
    assert nbtrack.active_run() is None
    # Hyperparameters from save_hyperparameters, nested ones as dotted keys, plus our config.
    assert (row["config.lr"], row["config.arch.depth"], row["config.arch.act"]) == (0.1, 2, "relu")
    assert row["config.data.rows"] == 32

    history = nbtrack.history("lit", keys="train_loss")
    # Lightning logs a batch's loss at the step count before its optimizer step.
    expected = [(step - 1, loss) for step, loss in recorder.losses]
    assert list(zip(history["step"], history["value"])) == expected
    assert len(expected) == 8
    val = nbtrack.history("lit", keys="val_loss")
    assert list(val["step"]) == [3, 7]
    assert list(val["value"]) == recorder.val_losses
    epoch = nbtrack.history("lit", keys="epoch")
    assert list(zip(epoch["step"], epoch["value"])) == [(s, s // 4) for s in range(8)]  # once per step
    assert row["summary.train_loss"] == recorder.losses[-1][1]


def test_a_second_stage_gets_a_fresh_run(store_dir, tmp_path):
    logger = NbtrackLogger(name="twice")
    fit(logger, tmp_path)
    first = logger.version
    fit(logger, tmp_path)
    runs = nbtrack.runs(name="twice")
    assert set(runs["status"]) == {"finished"} and len(runs) == 2
    assert logger.version != first and set(runs["id"]) == {first, logger.version}


def test_a_failing_fit_marks_its_run_failed(store_dir, tmp_path):
    logger = NbtrackLogger(name="boom")
    with pytest.raises(ValueError, match="diverged"):
        fit(logger, tmp_path, fail_at=5)
    record = nbtrack.run_record("boom")
    assert record["status"] == "failed"
    assert "ValueError: diverged" in record["error"]
    assert list(nbtrack.history("boom", "train_loss")["step"]) == [0, 1, 2, 3, 4]


def test_fit_after_init_logs_to_that_run_and_leaves_it_open(store_dir, tmp_path):
    run = nbtrack.init(name="outer", config={"seed": 7})
    fit(NbtrackLogger(config={"extra": 1}), tmp_path)
    fit(NbtrackLogger(), tmp_path)  # a second fit joins the same run
    assert not run._finished and nbtrack.active_run() is run
    run.finish()
    (row,) = nbtrack.runs().to_dict("records")
    assert (row["name"], row["config.seed"], row["config.extra"], row["config.lr"]) == ("outer", 7, 1, 0.1)
    assert len(nbtrack.history("outer", "train_loss")) == 16


def test_inside_a_track_cell_the_cell_owns_the_run(store_dir, tmp_path):
    from IPython.core.getipython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    start_ipython()
    ip = get_ipython()
    ip.run_cell("%load_ext nbtrack")
    ip.user_ns.update(fit=fit, NbtrackLogger=NbtrackLogger, tmp=tmp_path)
    try:
        result = ip.run_cell(
            "%%track in-cell\n"
            "logger = NbtrackLogger()\n"
            "fit(logger, tmp)\n"
            "still_running = logger.experiment.status\n",
            store_history=True,
        )
        assert result.success, result.error_in_exec
        assert ip.user_ns["still_running"] == "running"
    finally:
        ip.run_cell("%unload_ext nbtrack")
    (row,) = nbtrack.runs().to_dict("records")
    assert (row["name"], row["status"]) == ("in-cell", "finished")
    assert nbtrack.run_record("in-cell")["kind"] == "cell"
    assert len(nbtrack.history("in-cell", "train_loss")) == 8


def test_a_value_nbtrack_cannot_store_warns_once_and_training_goes_on(store_dir):
    logger = NbtrackLogger(name="odd")
    with pytest.warns(NbtrackWarning, match="could not record"):
        logger.log_metrics({"note": "text"}, step=0)
    logger.log_metrics({"loss": 0.5}, step=1)
    logger.finalize("success")
    history = nbtrack.history("odd")
    assert list(zip(history["key"], history["step"], history["value"])) == [("loss", 1, 0.5)]


def fit_saving(logger, tmp_path, checkpoint, *callbacks, epochs=3, fail_at=None, module=None):
    """Train with a real ModelCheckpoint callback writing under tmp_path/ckpt."""
    torch.manual_seed(0)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    trainer = L.Trainer(
        max_epochs=epochs, logger=logger, callbacks=[checkpoint, *callbacks], log_every_n_steps=1,
        accelerator="cpu", enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, num_sanity_val_steps=0,
    )
    trainer.fit(module or Regression(fail_at=fail_at), loader, loader)
    return trainer


class Scores(L.Callback):
    """What Lightning reported at each validation end: (default checkpoint file name, val_loss)."""

    def __init__(self) -> None:
        self.saves: list[tuple[str, float]] = []

    def on_validation_end(self, trainer, pl_module):
        name = f"epoch={trainer.current_epoch}-step={trainer.global_step}.ckpt"
        self.saves.append((name, trainer.callback_metrics["val_loss"].item()))


def versions(name):
    table = nbtrack.artifacts(name).sort_values("version")
    return [nbtrack.use_artifact(f"{name}:v{v}") for v in table["version"]]


def test_log_model_all_logs_each_checkpoint_when_saved_even_ones_lightning_deletes(store_dir, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_loss", save_top_k=1)
    scores = Scores()
    logger = NbtrackLogger(name="all-ckpts", log_model="all")
    fit_saving(logger, tmp_path, checkpoint, scores)

    # save_top_k=1 writes a file at each new best val_loss and deletes the one before.
    improved = [save for i, save in enumerate(scores.saves)
                if all(save[1] < earlier[1] for earlier in scores.saves[:i])]
    assert len(improved) > 1  # so some logged checkpoint files are gone from disk
    run_id = logger.version
    arts = versions(f"model-{run_id}")
    assert [(a.metadata["original_filename"], a.metadata["score"]) for a in arts] == improved
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == [improved[-1][0]]
    assert [a.aliases for a in arts] == [[]] * (len(arts) - 1) + [["best"]]
    last = arts[-1]
    assert last.type == "model" and last.metadata["score"] == checkpoint.best_model_score.item()
    epoch, step = last.metadata["epoch"], last.metadata["step"]
    assert last.metadata["original_filename"] == f"epoch={epoch}-step={step}.ckpt"
    assert last.metadata["ModelCheckpoint"]["monitor"] == "val_loss"
    assert last.file().read_bytes() == (tmp_path / "ckpt" / improved[-1][0]).read_bytes()
    lineage = nbtrack.lineage(f"model-{run_id}")
    assert set(lineage["run_id"]) == {run_id} and set(lineage["role"]) == {"output"}


def test_log_model_all_with_every_checkpoint_kept_moves_best_to_the_best_score(store_dir, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_loss", save_top_k=-1)
    scores = Scores()
    logger = NbtrackLogger(name="every", log_model="all", checkpoint_name="regressor")
    fit_saving(logger, tmp_path, checkpoint, scores)

    arts = versions("regressor")
    assert [a.metadata["original_filename"] for a in arts] == [s[0] for s in scores.saves]
    assert [a.metadata["score"] for a in arts] == [s[1] for s in scores.saves]
    assert [(a.metadata["epoch"], a.metadata["step"]) for a in arts] == [(0, 4), (1, 8), (2, 12)]
    best = min(range(3), key=lambda i: scores.saves[i][1])
    assert [a.aliases for a in arts] == [["best"] if i == best else [] for i in range(3)]
    assert nbtrack.use_artifact("regressor:best").metadata["score"] == checkpoint.best_model_score.item()


def test_log_model_true_logs_the_kept_checkpoints_once_at_the_end(store_dir, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_loss", save_top_k=2, save_last=True)

    class CountDuringFit(L.Callback):
        def __init__(self) -> None:
            self.during: list[int] = []

        def on_train_epoch_end(self, trainer, pl_module):
            self.during.append(len(nbtrack.artifacts()))

    counter = CountDuringFit()
    logger = NbtrackLogger(name="end", log_model=True)
    fit_saving(logger, tmp_path, checkpoint, counter)

    assert counter.during == [0, 0, 0]  # nothing while training
    arts = versions(f"model-{logger.version}")
    kept = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert {a.metadata["original_filename"] for a in arts} == kept and len(kept) == 3  # top 2 + last
    for art in arts:
        assert art.file().read_bytes() == (tmp_path / "ckpt" / art.metadata["original_filename"]).read_bytes()
    (best,) = [a for a in arts if a.aliases == ["best"]]
    assert best.metadata["original_filename"] == checkpoint.best_model_path.rsplit("/", 1)[-1]
    assert best.metadata["score"] == checkpoint.best_model_score.item()
    assert nbtrack.run_record("end")["status"] == "finished"


def test_log_model_true_logs_nothing_when_fit_fails(store_dir, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_loss")
    with pytest.raises(ValueError, match="diverged"):
        fit_saving(NbtrackLogger(name="broken", log_model=True), tmp_path, checkpoint, fail_at=9)
    assert any((tmp_path / "ckpt").iterdir())  # Lightning did save before the failure
    assert len(nbtrack.artifacts()) == 0
    assert nbtrack.run_record("broken")["status"] == "failed"


def test_a_checkpoint_that_cannot_be_stored_warns_once_and_training_goes_on(store_dir, tmp_path, monkeypatch):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from nbtrack import registry

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(registry, "log_artifact", broken)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_loss", save_top_k=-1)
    with pytest.warns(NbtrackWarning, match="disk on fire") as caught:
        fit_saving(NbtrackLogger(name="no-disk", log_model="all"), tmp_path, checkpoint)
    assert sum("disk on fire" in str(w.message) for w in caught) == 1
    assert nbtrack.run_record("no-disk")["status"] == "finished"
    assert len(nbtrack.history("no-disk", "val_loss")) == 3


def test_a_learning_rate_monitor_logs_the_scheduler_rates_per_step(store_dir, tmp_path):
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint

    class Scheduled(Regression):
        def configure_optimizers(self):
            optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)]

    fit_saving(NbtrackLogger(name="lr"), tmp_path, ModelCheckpoint(dirpath=tmp_path / "c"),
               LearningRateMonitor(logging_interval="step"), module=Scheduled())
    lr = nbtrack.history("lr", keys="lr-SGD")
    # StepLR halves the rate each epoch; 4 batches per epoch, logged at each step.
    assert list(zip(lr["step"], lr["value"])) == [(s, 0.1 * 0.5 ** (s // 4)) for s in range(12)]


def test_watch_logs_gradient_norms_into_the_loggers_run(store_dir, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    class Norms(L.Callback):
        def __init__(self) -> None:
            self.norms: list[float] = []

        def on_after_backward(self, trainer, pl_module):
            self.norms.append(pl_module.lin.weight.grad.norm().item())

    module, grads = Regression(), Norms()
    logger = NbtrackLogger(name="watched")
    logger.watch(module, log_freq=1)
    try:
        fit_saving(logger, tmp_path, ModelCheckpoint(dirpath=tmp_path / "c"), grads, epochs=1, module=module)
    finally:
        from nbtrack.integrations.torch import unwatch

        unwatch(module)
    logged = nbtrack.history("watched", keys="gradients/lin.weight/norm")
    assert list(logged["value"]) == grads.norms and len(grads.norms) == 4


def test_fit_records_epochs_and_the_optimizer_as_mlflow_autolog_does(store_dir, tmp_path):
    class Adam(Regression):
        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=0.02, weight_decay=0.5)

    logger = NbtrackLogger(name="opt", config={"epochs": 99})
    trainer = fit_saving(logger, tmp_path, L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / "c"),
                         epochs=2, module=Adam())
    config = nbtrack.run_record("opt")["config"]
    optimizer = trainer.optimizers[0]
    assert config["optimizer.name"] == "AdamW"
    assert (config["optimizer.lr"], config["optimizer.weight_decay"]) == (0.02, 0.5)
    assert config["optimizer.betas"] == list(optimizer.defaults["betas"])
    assert config["epochs"] == 99  # the user's own value wins over max_epochs
    assert config["lr"] == 0.1  # save_hyperparameters still there, apart from the optimizer's


def test_validate_after_fit_leaves_the_optimizer_config_alone(store_dir, tmp_path):
    logger = NbtrackLogger(name="stages")
    trainer = fit_saving(logger, tmp_path, L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / "c"),
                         epochs=1)
    fitted = logger.version
    trainer.validate(trainer.lightning_module, trainer.val_dataloaders, verbose=False)
    assert nbtrack.run_record(fitted)["config"]["epochs"] == 1
    validated = nbtrack.run_record(logger.version)
    assert validated["id"] != fitted and "optimizer.name" not in validated["config"]
