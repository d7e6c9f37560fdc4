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


def make_trainer(tmp_path, callback, run_name=None, processing_class=None, **overrides):
    transformers.set_seed(0)
    config = transformers.BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=16,
                                     max_position_embeddings=16, num_labels=2)
    model = transformers.BertForSequenceClassification(config)
    settings = dict(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, per_device_eval_batch_size=4,
        num_train_epochs=2, learning_rate=0.01, logging_steps=1, eval_strategy="epoch",
        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, run_name=run_name,
    )
    args = transformers.TrainingArguments(**{**settings, **overrides})
    recorder = Recorder()
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens(12),
                                   eval_dataset=Tokens(8), callbacks=[callback, recorder],
                                   processing_class=processing_class)
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


def test_the_learning_rate_is_logged_at_each_step_as_the_trainer_reported_it(store_dir, tmp_path):
    trainer, recorder, _ = make_trainer(tmp_path, NbtrackCallback(name="lr"), lr_scheduler_type="linear")
    trainer.train()
    rates = [(step, logs["learning_rate"]) for step, logs in recorder.logs if "learning_rate" in logs]
    h = nbtrack.history("lr", keys="train/learning_rate")
    assert list(zip(h["step"], h["value"])) == rates and len(rates) == 6
    assert rates[0][1] > rates[-1][1]  # the linear schedule really decays


def test_log_model_end_stores_the_trained_model_and_it_loads_back(store_dir, tmp_path):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "tiny", "bert"]
    tokenizer = transformers.BertTokenizer(vocab={word: i for i, word in enumerate(words)})
    callback = NbtrackCallback(name="final", log_model=True)
    trainer, _, model = make_trainer(tmp_path, callback, processing_class=tokenizer)
    trainer.train()
    name = f"model-{callback.run.id}"
    art = nbtrack.use_artifact(f"{name}:final_model")
    assert art.type == "model" and art.metadata["final_model"] is True
    assert art.metadata["train_loss"] == nbtrack.run_record("final")["summary"]["train_loss"]
    assert "config.json" in {f["path"] for f in art.files}
    folder = art.download(tmp_path / "dl")
    loaded = transformers.BertForSequenceClassification.from_pretrained(folder)
    assert transformers.BertTokenizer.from_pretrained(folder)("tiny bert")["input_ids"] == [2, 5, 6, 3]
    batch = Tokens(4)[:4]
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, model(**batch).logits)
    assert len(nbtrack.artifacts(name)) == 1  # no checkpoints without log_model="checkpoint"


def test_log_model_checkpoint_logs_each_saved_checkpoint_folder(store_dir, tmp_path):
    callback = NbtrackCallback(name="ckpts", log_model="checkpoint", model_name="tiny-bert")
    trainer, _, _ = make_trainer(tmp_path, callback, save_strategy="epoch")
    trainer.train()
    versions = nbtrack.artifacts("tiny-bert").sort_values("version")
    arts = [nbtrack.use_artifact(f"tiny-bert:v{v}") for v in versions["version"]]
    assert [a.aliases for a in arts] == [["epoch_1.0", "checkpoint_global_step_3"],
                                        ["epoch_2.0", "checkpoint_global_step_6"], ["final_model"]]
    assert [a.metadata.get("global_step") for a in arts] == [3, 6, None]
    for art, step in zip(arts, (3, 6)):
        folder = tmp_path / "out" / f"checkpoint-{step}"
        stored = {f["path"] for f in art.files}
        assert stored == {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert art.file("model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()


def test_a_model_that_cannot_be_saved_warns_and_the_run_still_finishes(store_dir, tmp_path, monkeypatch):
    callback = NbtrackCallback(name="unsaved", log_model="end")
    trainer, _, model = make_trainer(tmp_path, callback)

    def refuse(*args, **kwargs):
        raise OSError("read-only file system")

    monkeypatch.setattr(model, "save_pretrained", refuse)
    with pytest.warns(nbtrack.NbtrackWarning, match="read-only file system"):
        trainer.train()
    assert nbtrack.run_record("unsaved")["status"] == "finished"
    assert len(nbtrack.artifacts()) == 0


def test_a_bad_log_model_says_what_is_allowed():
    with pytest.raises(nbtrack.NbtrackError, match="'end' \\(or True\\) or 'checkpoint'"):
        NbtrackCallback(log_model="all")


def test_wandb_log_model_in_the_environment_is_followed_unless_log_model_is_given(store_dir, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setenv("WANDB_LOG_MODEL", "end")
    make_trainer(tmp_path, NbtrackCallback(name="explicit", log_model=False))[0].train()
    assert len(nbtrack.artifacts()) == 0
    callback = NbtrackCallback(name="from-env")
    make_trainer(tmp_path, callback)[0].train()
    assert nbtrack.use_artifact(f"model-{callback.run.id}:final_model").metadata["final_model"] is True
    monkeypatch.setenv("WANDB_LOG_MODEL", "sometimes")
    with pytest.raises(nbtrack.NbtrackError, match="WANDB_LOG_MODEL='sometimes'"):
        NbtrackCallback()
