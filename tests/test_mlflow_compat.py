"""``import nbtrack.mlflow as mlflow``: MLflow-shaped scripts, checked against the real store."""

from __future__ import annotations

import importlib
import importlib.util
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import run_python

import nbtrack
import nbtrack.mlflow as mlflow
from nbtrack.errors import NbtrackError

# The MLflow tracking quickstart, as users copy it; only the import line differs.
QUICKSTART = """
import nbtrack.mlflow as mlflow

mlflow.set_experiment("quickstart")
params = {"solver": "lbfgs", "max_iter": 100, "learning_rate": 0.01}

with mlflow.start_run(run_name="parent", tags={"team": "vision"}, description="sweep over folds") as parent:
    mlflow.log_params(params)
    mlflow.set_tag("Training Info", "Basic LR model for iris data")
    for epoch in range(3):
        mlflow.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
    mlflow.log_metrics({"accuracy": 0.9, "f1": 0.875})
    for fold in range(2):
        with mlflow.start_run(run_name=f"fold-{fold}", nested=True) as child:
            mlflow.log_param("fold", fold)
            mlflow.log_metric("rmse", 0.5 + fold, step=0)
            mlflow.log_metric("rmse", 0.25 + fold, step=1)
    print("PARENT", parent.info.run_id)

with mlflow.start_run(run_name="broken"):
    mlflow.log_param("lr", 0.1)
    mlflow.end_run(status="KILLED")

mlflow.start_run(run_name="crash")
mlflow.log_metric("loss", 3.0)
raise RuntimeError("diverged")
"""


def test_quickstart_script_with_one_changed_import(store_dir: Path, tmp_path: Path) -> None:
    proc = run_python(QUICKSTART, env={"NBTRACK_DIR": str(store_dir)}, check=False)
    assert proc.returncode == 1 and "diverged" in proc.stderr
    parent_id = next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("PARENT"))
    runs = nbtrack.runs(project="quickstart").set_index("name")
    assert sorted(runs.index) == ["broken", "crash", "fold-0", "fold-1", "parent"]
    assert runs.loc["parent", "status"] == "finished"
    assert runs.loc["broken", "status"] == "interrupted"
    assert runs.loc["crash", "status"] == "failed"
    parent = nbtrack.run_record(parent_id)
    assert parent["config"] == {"solver": "lbfgs", "max_iter": 100, "learning_rate": 0.01}
    assert sorted(parent["tags"]) == ["Training Info=Basic LR model for iris data", "team=vision"]
    assert parent["notes"] == "sweep over folds"
    loss = nbtrack.history(parent_id, "loss")
    assert list(zip(loss["step"], loss["value"])) == [(0, 1.0), (1, 0.5), (2, 1.0 / 3)]
    scores = nbtrack.history(parent_id, ["accuracy", "f1"])
    assert sorted(zip(scores["key"], scores["step"], scores["value"])) == [
        ("accuracy", 0, 0.9), ("f1", 0, 0.875)]
    for fold in range(2):
        child = nbtrack.run_record(runs.loc[f"fold-{fold}", "id"])
        assert child["status"] == "finished"
        assert child["config"] == {"fold": fold}
        assert child["tags"] == [f"mlflow.parentRunId={parent_id}"]
        assert child["group_name"] == "parent"
        rmse = nbtrack.history(child["id"], "rmse")
        assert list(zip(rmse["step"], rmse["value"])) == [(0, 0.5 + fold), (1, 0.25 + fold)]
    crash = nbtrack.run_record(runs.loc["crash", "id"])
    assert "RuntimeError: diverged" in crash["error"]

    # search_runs reads the same runs back in MLflow's shape.
    mlflow.set_experiment("quickstart")
    frame = mlflow.search_runs()
    assert list(frame.columns[:5]) == ["run_id", "experiment_id", "status", "start_time", "end_time"]
    assert list(frame["tags.mlflow.runName"]) == ["crash", "broken", "fold-1", "fold-0", "parent"]
    assert str(frame["start_time"].dt.tz) == "UTC"
    by_name = frame.set_index("tags.mlflow.runName")
    assert by_name.loc["fold-1", "tags.mlflow.parentRunId"] == parent_id
    assert by_name.loc["fold-1", "params.fold"] == "1"  # params are text, as MLflow gives them
    assert by_name.loc["parent", "params.learning_rate"] == "0.01"
    assert by_name.loc["parent", "metrics.loss"] == pytest.approx(1.0 / 3)
    assert by_name.loc["broken", "status"] == "KILLED"
    assert by_name.loc["crash", "status"] == "FAILED"
    children = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
                                  order_by=["metrics.rmse DESC"])
    assert list(children["tags.mlflow.runName"]) == ["fold-1", "fold-0"]
    assert list(mlflow.search_runs(filter_string="metrics.rmse < 1 and params.fold = '0'")["run_id"]) == [
        by_name.loc["fold-0", "run_id"]]
    assert list(mlflow.search_runs(filter_string="attributes.status = 'FAILED'")["run_id"]) == [
        by_name.loc["crash", "run_id"]]
    got = mlflow.get_run(parent_id)
    assert got.info.run_name == "parent" and got.info.status == "FINISHED"
    assert got.data.params == {"solver": "lbfgs", "max_iter": "100", "learning_rate": "0.01"}
    assert got.data.metrics == {"loss": pytest.approx(1.0 / 3), "accuracy": 0.9, "f1": 0.875}
    assert got.data.tags["team"] == "vision"


def test_active_run_info_and_data_while_logging(store_dir: Path) -> None:
    mlflow.set_experiment("live")
    with mlflow.start_run(run_name="r1") as run:
        assert mlflow.active_run() is run and nbtrack.run is run.run
        mlflow.log_param("lr", 0.1)
        mlflow.set_tags({"stage": "dev", "owner": "ana"})
        mlflow.set_tag("stage", "prod")  # a new value replaces the old one
        mlflow.log_metric("loss", 0.5)
        mlflow.log_metric("loss", 0.25)  # no step: one past this metric's last step
        nbtrack.log({"direct": 1.0}, step=7)  # nbtrack's own calls go to the same run
        assert run.info.run_name == "r1" and run.info.status == "RUNNING"
        assert run.data.params == {"lr": "0.1"}
        assert run.data.tags["stage"] == "prod" and run.data.tags["owner"] == "ana"
        assert run.data.metrics["loss"] == 0.25
    assert mlflow.active_run() is None and nbtrack.run is None
    assert mlflow.last_active_run() is run and run.info.status == "FINISHED"
    history = nbtrack.history(run.info.run_id)
    assert sorted(zip(history["key"], history["step"], history["value"])) == [
        ("direct", 7, 1.0), ("loss", 0, 0.5), ("loss", 1, 0.25)]


def test_exception_in_with_block_fails_the_run_and_nested_parents_resume(store_dir: Path) -> None:
    with mlflow.start_run(run_name="outer") as outer:
        with pytest.raises(ValueError), mlflow.start_run(run_name="inner", nested=True) as inner:
            raise ValueError("bad fold")
        assert mlflow.active_run() is outer and nbtrack.run is outer.run
        mlflow.log_metric("after", 1.0)
    assert inner.run.status == "failed" and "bad fold" in (inner.run.error or "")
    assert outer.run.status == "finished"
    assert list(nbtrack.history(outer.info.run_id)["key"]) == ["after"]


def test_misuse_raises_one_clear_line(store_dir: Path) -> None:
    with mlflow.start_run():
        with pytest.raises(NbtrackError, match="nested=True"):
            mlflow.start_run()
        mlflow.log_param("lr", 0.1)
        mlflow.log_param("lr", 0.1)  # the same value again is fine, as in MLflow
        with pytest.raises(NbtrackError, match=r"already 0\.1"):
            mlflow.log_param("lr", 0.2)
        with pytest.raises(NbtrackError, match="timestamp"):
            mlflow.log_metric("x", 1.0, timestamp=5)
        with pytest.raises(NbtrackError, match="FINISHED, FAILED or KILLED"):
            mlflow.end_run(status="DONE")
    with pytest.raises(NbtrackError, match="no run with id 'abc'"):
        mlflow.start_run(run_id="abc")
    with pytest.raises(NbtrackError, match="NBTRACK_DIR"):
        mlflow.set_tracking_uri("http://localhost:5000")
    with pytest.raises(NbtrackError, match="nbtrack import mlflow"):
        mlflow.set_tracking_uri("sqlite:///mlflow.db")
    with pytest.raises(NbtrackError, match=r"nbtrack\.log_artifact"):
        mlflow.log_model  # noqa: B018
    with pytest.raises(NbtrackError, match="autolog"):
        mlflow.sklearn  # noqa: B018
    assert not hasattr(mlflow, "register_model")  # an AttributeError too, so hasattr works
    with pytest.raises(NbtrackError, match="cannot read the filter clause"):
        mlflow.search_runs(filter_string="metrics.a > 1 OR metrics.b < 2")
    with pytest.raises(NbtrackError, match=r"nbtrack\.trash"):
        mlflow.search_runs(run_view_type=2)


def test_start_run_with_run_id_continues_the_stored_run(store_dir: Path) -> None:
    with mlflow.start_run(run_name="long", tags={"stage": "a"}) as first:
        mlflow.log_param("lr", 0.1)
        mlflow.log_metric("loss", 1.0)
        mlflow.log_metric("loss", 0.5)
    run_id = first.info.run_id
    with mlflow.start_run(run_id=run_id, tags={"stage": "b"}) as again:
        assert again.info.run_id == run_id and again.info.run_name == "long"
        mlflow.log_metric("loss", 0.25)  # goes on after the stored steps
        mlflow.log_param("epochs", 3)
        with pytest.raises(NbtrackError, match=r"already 0\.1"):
            mlflow.log_param("lr", 0.2)
    assert len(nbtrack.runs()) == 1
    assert points_of(run_id, "loss") == [(0, 1.0), (1, 0.5), (2, 0.25)]
    got = mlflow.get_run(run_id)
    assert got.data.params == {"lr": "0.1", "epochs": "3"} and got.data.tags["stage"] == "b"
    assert got.info.status == "FINISHED"


def points_of(run_id: str, key: str) -> list[tuple[int, float]]:
    frame = nbtrack.history(run_id, key)
    return list(zip(frame["step"], frame["value"]))


def test_log_call_without_a_run_starts_one_and_end_run_ends_it(store_dir: Path) -> None:
    mlflow.log_metric("loss", 2.0)
    run = mlflow.active_run()
    assert run is not None and run.run.status == "running"
    mlflow.end_run()
    assert run.run.status == "finished" and mlflow.active_run() is None
    mlflow.end_run()  # nothing active: nothing to do, as in MLflow


def test_start_run_joins_a_run_nbtrack_started(store_dir: Path) -> None:
    own = nbtrack.init(name="cell-like")
    with mlflow.start_run() as joined:
        assert joined.run is own
        mlflow.log_param("k", 3)
    assert own.status == "running"  # its owner finishes it
    own.finish()
    assert nbtrack.run_record(own.id)["config"] == {"k": 3}


def test_set_tracking_uri_points_at_a_store_folder(tmp_path: Path, store_dir: Path) -> None:
    folder = tmp_path / "mlruns"
    mlflow.set_tracking_uri(folder.as_uri())
    assert mlflow.get_tracking_uri() == folder.as_uri()
    with mlflow.start_run(run_name="here"):
        mlflow.log_metric("m", 1.0)
    assert list(nbtrack.runs(store=folder)["name"]) == ["here"]
    assert nbtrack.runs(store=store_dir).empty


def test_artifacts_dicts_text_and_figures(store_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text("alpha")
    (tmp_path / "out" / "b.txt").write_text("beta")
    (tmp_path / "model.pkl").write_bytes(b"\x00weights")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "model.pkl"))
        mlflow.log_artifacts(str(tmp_path / "out"), artifact_path="outputs")
        mlflow.log_dict({"classes": ["cat", "dog"]}, "meta/labels.json")
        mlflow.log_text("hello", "notes.txt")
        mlflow.log_figure(fig, "plots/curve.png")
        mlflow.log_table({"question": ["2+2?", "3+3?"], "answer": [4, 6]}, "eval/results.json")
        mlflow.log_image(np.zeros((4, 4, 3), dtype=np.uint8), key="sample", step=3)
        with pytest.raises(NbtrackError, match="timestamp"):
            mlflow.log_image(np.zeros((4, 4)), key="sample", step=4, timestamp=1)
    plt.close(fig)
    made = nbtrack.lineage(run.info.run_id)
    assert sorted(made["name"]) == ["curve.png", "labels.json", "model.pkl", "notes.txt", "outputs",
                                    "results.json"]
    assert json.loads(nbtrack.use_artifact("results.json").file().read_text()) == {
        "columns": ["question", "answer"], "data": [["2+2?", 4], ["3+3?", 6]]}
    assert nbtrack.use_artifact("model.pkl").file().read_bytes() == b"\x00weights"
    folder = nbtrack.use_artifact("outputs").download(tmp_path / "back")
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt", "b.txt"]
    assert nbtrack.use_artifact("labels.json").file().read_text().replace(" ", "").replace("\n", "") == \
        '{"classes":["cat","dog"]}'
    assert nbtrack.use_artifact("labels.json").metadata == {"artifact_path": "meta"}
    media = nbtrack.media(run.info.run_id).sort_values("key")
    assert list(zip(media["key"], media["kind"], media["step"])) == [
        ("eval/results.json", "table", 0), ("plots/curve.png", "image", 0), ("sample", "image", 3)]
    table = nbtrack.load_media(media.iloc[0])
    assert table.to_dict("list") == {"question": ["2+2?", "3+3?"], "answer": [4, 6]}


def test_run_id_sends_an_artifact_to_an_outer_run(store_dir: Path) -> None:
    with (mlflow.start_run(run_name="outer") as outer,
          mlflow.start_run(run_name="inner", nested=True) as inner):
        mlflow.log_dict({"k": 1}, "cfg/outer.json", run_id=outer.info.run_id)
        mlflow.log_text("x", "inner.txt")
    assert list(nbtrack.lineage(outer.info.run_id)["name"]) == ["outer.json"]
    assert list(nbtrack.lineage(inner.info.run_id)["name"]) == ["inner.txt"]


def test_autolog_sklearn_records_each_outer_fit(store_dir: Path) -> None:
    pytest.importorskip("sklearn")
    code = """
        import nbtrack.mlflow as mlflow
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        report = mlflow.autolog(exclude_flavors=["lightning", "transformers"])
        print("REPORT", report)
        X, y = load_iris(return_X_y=True)
        make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=200)).fit(X, y)
        with mlflow.start_run(run_name="mine"):
            LogisticRegression(C=2.0, max_iter=300).fit(X, y)
        mlflow.autolog(disable=True, silent=True)
        LogisticRegression().fit(X, y)
    """
    proc = run_python(textwrap.dedent(code), env={"NBTRACK_DIR": str(store_dir)})
    assert "REPORT {'sklearn': 'enabled', 'keras': " in proc.stdout
    assert "torch has nothing to hook: call nbtrack.integrations.torch.watch(model)" in proc.stderr
    runs = nbtrack.runs().set_index("name")
    assert sorted(runs.index) == ["Pipeline", "mine"]  # the pipeline's inner fits do not log; disabled: none
    assert runs.loc["mine", "config.C"] == 2.0
    assert runs.loc["mine", "config.estimator"] == "LogisticRegression"
    assert runs.loc["Pipeline", "status"] == "finished"
    assert 0.9 < runs.loc["Pipeline", "summary.training_score"] <= 1.0
    models = nbtrack.lineage(runs.loc["Pipeline", "id"])  # log_models is on by default, as in MLflow
    assert list(zip(models["type"], models["role"])) == [("model", "output")]


def test_autolog_gives_a_plain_lightning_trainer_the_nbtrack_logger(store_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    code = f"""
        import torch, lightning as L
        import nbtrack.mlflow as mlflow

        class Model(L.LightningModule):
            def __init__(self, lr=0.1):
                super().__init__()
                self.save_hyperparameters()
                self.lin = torch.nn.Linear(2, 1)
            def training_step(self, batch, batch_idx):
                x, y = batch
                loss = torch.nn.functional.mse_loss(self.lin(x).squeeze(-1), y)
                self.log("train_loss", loss)
                return loss
            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

        report = mlflow.autolog(exclude_flavors=["sklearn", "transformers"], log_models=False, silent=True)
        assert report["lightning"] == "enabled", report
        torch.manual_seed(0)
        x = torch.randn(16, 2)
        data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1)), batch_size=4)
        with mlflow.start_run(run_name="lit"):
            L.Trainer(max_epochs=2, log_every_n_steps=1, enable_progress_bar=False,
                      enable_checkpointing=False, default_root_dir={str(tmp_path)!r}).fit(Model(), data)
    """
    run_python(textwrap.dedent(code), env={"NBTRACK_DIR": str(store_dir)}, timeout=300)
    (record,) = nbtrack.runs().to_dict("records")
    assert record["name"] == "lit" and record["status"] == "finished" and record["config.lr"] == 0.1
    assert list(nbtrack.history(record["id"], "train_loss")["step"]) == list(range(8))


def test_autolog_gives_keras_fit_the_nbtrack_callback_and_disable_restores_it(store_dir: Path) -> None:
    # Keras 3 (torch backend) defines fit on its backend's Trainer, not on keras.Model.
    proc = run_python("""
        import numpy as np
        import keras
        import nbtrack, nbtrack.mlflow as mlflow
        inherited = keras.Model.fit
        assert mlflow.autolog(exclude_flavors=["sklearn", "lightning", "transformers"],
                              log_models=False, silent=True)["keras"] == "enabled"
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(np.ones((16, 4)), np.zeros(16), epochs=3, batch_size=8, verbose=0)
        mlflow.autolog(disable=True, silent=True)
        assert "fit" not in keras.Model.__dict__ and keras.Model.fit is inherited
        (run_id,) = nbtrack.runs()["id"]
        stored = nbtrack.history(run_id, "loss")["value"].tolist()
        assert stored == [float(v) for v in history.history["loss"]], (stored, history.history)
        print("ok", len(stored))
    """, env={"KERAS_BACKEND": "torch", "NBTRACK_DIR": str(store_dir)}, timeout=300)
    assert proc.stdout.split()[-2:] == ["ok", "3"], proc.stdout + proc.stderr


def test_autolog_says_what_it_cannot_do() -> None:
    report = mlflow.autolog(exclude_flavors=["sklearn", "lightning", "transformers"], silent=True)
    if importlib.util.find_spec("keras") is None:
        assert report["keras"] == "not installed"
    else:
        try:
            importlib.import_module("keras")
        except ImportError as exc:  # here: Keras 3 without TensorFlow
            assert report["keras"] == f"is installed but does not import ({type(exc).__name__}: {exc})"
        else:
            assert report["keras"] == "enabled"
    assert report["torch"].startswith("has nothing to hook")
    mlflow.autolog(disable=True, silent=True)
    proc = run_python("""
        import sys
        sys.modules["sklearn"] = None  # scikit-learn absent
        import nbtrack.mlflow as mlflow
        print(mlflow.autolog(exclude_flavors=["lightning", "transformers", "keras", "torch"], silent=True))
    """)
    assert proc.stdout.strip() == "{'sklearn': 'not installed'}"
    with pytest.raises(NbtrackError, match="unknown argument"):
        mlflow.autolog(log_everything=True)
    with pytest.raises(NbtrackError, match="exclusive"):
        mlflow.autolog(exclusive=True)
    with pytest.raises(NbtrackError, match="log_table"):
        mlflow.autolog(log_input_examples=True)


def test_importing_nbtrack_mlflow_never_imports_mlflow() -> None:
    proc = run_python("""
        import sys
        import nbtrack.mlflow
        import nbtrack.importers.mlflow
        print("mlflow" in sys.modules)
    """)
    assert proc.stdout.strip() == "False"


def test_each_thread_has_its_own_active_run(store_dir: Path) -> None:
    import threading

    seen: dict[str, str] = {}

    def work(name: str) -> None:
        with mlflow.start_run(run_name=name) as run:  # no "already active" across threads
            mlflow.log_metric("x", 1.0, step=0)
            seen[name] = run.info.run_id

    with mlflow.start_run(run_name="main") as main:
        threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert mlflow.active_run() is main
    runs = nbtrack.runs().set_index("name")
    assert sorted(runs.index) == ["main", "worker-0", "worker-1"]
    assert set(runs["status"]) == {"finished"}
    assert runs.loc["worker-0", "tags"] == []  # not a child of the main thread's run


def test_create_experiment_then_start_run_in_it(store_dir: Path) -> None:
    experiment_id = mlflow.create_experiment("made")
    assert mlflow.get_experiment(experiment_id).name == "made"
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_param("a", 1)
    assert mlflow.get_experiment_by_name("made") is not None
    assert list(mlflow.search_runs(experiment_ids=[experiment_id])["params.a"]) == ["1"]
    with pytest.raises(NbtrackError, match="already exists"):
        mlflow.create_experiment("made")


def test_nbtrack_mlflow_is_reachable_as_an_attribute() -> None:
    # `import nbtrack; nbtrack.mlflow.log_metric(...)`, in a process that never imported it
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import nbtrack; print(nbtrack.mlflow.log_metric.__name__)"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "log_metric", proc.stderr


def test_log_metric_without_step_goes_on_after_the_metric_in_a_joined_run(store_dir: Path) -> None:
    own = nbtrack.init(name="outer")
    for i in range(3):
        nbtrack.log({"loss": float(i)})  # steps 0, 1, 2
    with mlflow.start_run() as joined:
        assert joined.run is own
        mlflow.log_metric("loss", 99.0)  # one past the metric's last step: 3, not 0
        mlflow.log_metric("acc", 0.5)  # a new metric starts at 0
        nbtrack.log({"loss": 7.0}, step=10)  # mixed: nbtrack.log moves the metric on
        mlflow.log_metric("loss", 8.0)
    own.finish()
    assert points_of(own.id, "loss") == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 99.0), (10, 7.0), (11, 8.0)]
    assert points_of(own.id, "acc") == [(0, 0.5)]


def test_log_metric_without_step_counts_nbtrack_log_in_an_mlflow_run(store_dir: Path) -> None:
    with mlflow.start_run() as started:
        mlflow.log_metric("loss", 1.0)  # step 0
        nbtrack.log({"loss": 2.0}, step=5)
        mlflow.log_metric("loss", 3.0)
    assert points_of(started.info.run_id, "loss") == [(0, 1.0), (5, 2.0), (6, 3.0)]


def test_start_run_with_run_id_inside_an_nbtrack_run_never_finishes_it(store_dir: Path) -> None:
    with mlflow.start_run(run_name="old") as old:
        mlflow.log_metric("m", 1.0)
    outer = nbtrack.init(name="outer")
    nbtrack.log({"x": 1.0})
    with pytest.raises(NbtrackError, match=r"nbtrack\.finish\(\)") as raised:
        mlflow.start_run(run_id=old.info.run_id)
    assert "'outer'" in str(raised.value) and old.info.run_id in str(raised.value)
    assert outer.status == "running" and nbtrack.run is outer and mlflow.active_run() is None
    with mlflow.start_run(run_id=outer.id, tags={"stage": "b"}) as joined:  # the active run: joined
        assert joined.run is outer
        mlflow.log_metric("x", 2.0)
    assert outer.status == "running"  # its owner finishes it
    nbtrack.log({"x": 3.0})
    outer.finish()
    assert points_of(outer.id, "x") == [(0, 1.0), (1, 2.0), (2, 3.0)]
    assert "stage=b" in nbtrack.run_record(outer.id)["tags"]
    assert nbtrack.run_record(old.info.run_id)["status"] == "finished"
    assert points_of(old.info.run_id, "m") == [(0, 1.0)]


def test_mlflow_calls_inside_a_disabled_run_store_nothing_and_do_not_fail(store_dir: Path) -> None:
    with nbtrack.init(mode="disabled") as disabled, mlflow.start_run() as joined:
        assert joined.run is disabled
        mlflow.log_metric("a", 1.0)
    assert nbtrack.runs().empty
