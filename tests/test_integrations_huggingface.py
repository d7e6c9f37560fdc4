"""NbtrackCallback with a real transformers Trainer on a tiny BERT built from a config (no download)."""

from __future__ import annotations

import os

import pytest

import nbtrack

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may touch the network
torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed "
                                   "(pip install transformers)")
# Trainer needs accelerate on PyTorch (transformers[torch] brings it).
pytest.importorskip("accelerate",
                    reason="transformers.Trainer needs accelerate (pip install 'transformers[torch]')")

from nbtrack.integrations.huggingface import NbtrackCallback, rename_logs  # noqa: E402


class Recorder(transformers.TrainerCallback):
    """Every log the Trainer emitted, with its global step."""

    def __init__(self) -> None:
        self.logs: list[tuple[int, dict]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append((state.global_step, dict(logs)))


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(n)
        self.ids = torch.randint(0, 30, (n, 6), generator=g)
        self.labels = (self.ids[:, 0] > 15).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(6, dtype=torch.long),
                "labels": self.labels[i]}


def make_trainer(tmp_path, callback, run_name=None):
    transformers.set_seed(0)
    config = transformers.BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=16,
                                     max_position_embeddings=16, num_labels=2)
    model = transformers.BertForSequenceClassification(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, per_device_eval_batch_size=4,
        num_train_epochs=2, learning_rate=0.01, logging_steps=1, eval_strategy="epoch",
        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, run_name=run_name,
    )
    recorder = Recorder()
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens(12),
                                   eval_dataset=Tokens(8), callbacks=[callback, recorder])
    return trainer, recorder, model


def test_rename_logs_uses_wandb_names():
    assert rename_logs({"loss": 1, "eval_loss": 2, "test_acc": 3, "epoch": 0.5}) == {
        "train/loss": 1, "eval/loss": 2, "test/acc": 3, "train/epoch": 0.5}


def test_training_logs_every_step_evals_and_totals(store_dir, tmp_path):
    trainer, recorder, model = make_trainer(tmp_path, NbtrackCallback(project="hf"), run_name="tiny-bert")
    trainer.train()

    (row,) = nbtrack.runs(project="hf").to_dict("records")
    assert (row["name"], row["status"]) == ("tiny-bert", "finished")
    steps = [(step, logs["loss"]) for step, logs in recorder.logs if "loss" in logs]
    assert len(steps) == 6  # 12 examples / 4 per batch * 2 epochs
    h = nbtrack.history("tiny-bert", keys="train/loss")
    assert list(zip(h["step"], h["value"])) == steps
    evals = [(step, logs["eval_loss"]) for step, logs in recorder.logs if "eval_loss" in logs]
    h = nbtrack.history("tiny-bert", keys="eval/loss")
    assert list(zip(h["step"], h["value"])) == evals and [s for s, _ in evals] == [3, 6]
    totals = next(logs for _, logs in recorder.logs if "train_runtime" in logs)
    assert row["summary.train_loss"] == totals["train_loss"]
    assert row["summary.train_runtime"] == totals["train_runtime"]
    assert row["summary.train/global_step"] == 6
    assert "train/train_runtime" not in set(nbtrack.history("tiny-bert")["key"])
    # Config: the Trainer's arguments over the model's config, and the model size.
    assert (row["config.learning_rate"], row["config.num_train_epochs"]) == (0.01, 2)
    assert (row["config.hidden_size"], row["config.num_hidden_layers"]) == (8, 2)
    assert row["config.model/num_parameters"] == model.num_parameters()


def test_evaluate_after_training_gets_its_own_finished_run(store_dir, tmp_path):
    callback = NbtrackCallback(name="hf-eval")
    trainer, _, _ = make_trainer(tmp_path, callback)
    trainer.train()
    trained = callback.run
    metrics = trainer.evaluate()
    assert callback.run is not trained and callback.run.status == "finished"
    h = nbtrack.history(callback.run.id)
    assert dict(zip(h["key"], h["value"]))["eval/loss"] == metrics["eval_loss"]


def test_inside_an_active_run_it_logs_there_and_leaves_it_open(store_dir, tmp_path):
    run = nbtrack.init(name="outer")
    trainer, _, _ = make_trainer(tmp_path, NbtrackCallback())
    trainer.train()
    trainer.evaluate()
    assert not run._finished and nbtrack.active_run() is run
    run.finish()
    assert list(nbtrack.runs()["name"]) == ["outer"]
    assert len(nbtrack.history("outer", "eval/loss")) == 3  # two epochs, then evaluate()
