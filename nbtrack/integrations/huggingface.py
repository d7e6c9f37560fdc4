"""A Hugging Face ``transformers`` callback: ``Trainer(..., callbacks=[NbtrackCallback()])``.

Logs like W&B's ``WandbCallback``: ``loss`` as ``train/loss``, ``eval_loss`` as
``eval/loss``, ``test_*`` as ``test/*``, each at ``step=state.global_step``; the
one-off totals (``train_runtime``, ``train_loss``, ``total_flos``, ...) go to the
run's summary. Pass ``report_to="none"`` so other trackers stay off.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import NbtrackError
from ..values import finite_float
from ._common import RunSlot, guarded, requires

_TrainerCallback: Any = requires("transformers", "transformers",
                                 "nbtrack.integrations.huggingface").TrainerCallback

__all__ = ["NbtrackCallback", "rename_logs"]

#: W&B's ``WANDB_LOG_MODEL`` values (``true`` is its older spelling of ``end``).
_LOG_MODEL_ENV: dict[str, bool | str] = {"end": "end", "true": "end", "1": "end", "checkpoint": "checkpoint",
                                         "false": False, "0": False, "": False}

#: Totals the Trainer reports once at the end of training; they describe the run, not a step.
SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second",
                "train_loss", "total_flos")


def rename_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """W&B's names for Trainer logs: ``eval_x`` -> ``eval/x``, ``test_x`` -> ``test/x``, else ``train/x``.

    Example
    -------
    >>> rename_logs({"loss": 0.5, "eval_loss": 0.4})
    {'train/loss': 0.5, 'eval/loss': 0.4}
    """
    out = {}
    for key, value in logs.items():
        for prefix in ("eval", "test"):
            if key.startswith(prefix + "_"):
                out[f"{prefix}/{key[len(prefix) + 1:]}"] = value
                break
        else:
            out[f"train/{key}"] = value
    return out


class NbtrackCallback(_TrainerCallback):  # type: ignore[misc]
    """Track a ``transformers.Trainer`` in nbtrack.

    On train begin the run's config gets ``args.to_dict()`` over the model's config
    (as W&B does) and ``model/num_parameters``. Inside a ``%%track`` cell or after
    ``nbtrack.init`` it logs to that run and leaves it open; otherwise it starts a run
    (named ``args.run_name`` when set) and finishes it at train end. A later
    ``trainer.evaluate()`` outside any run gets a run of its own, finished when
    the evaluation ends. The learning rate the Trainer reports with each log is
    ``train/learning_rate``.

    Parameters
    ----------
    name, project, config
        For the run the callback starts when no run is active.
    log_model
        As W&B's ``WANDB_LOG_MODEL``: ``"end"`` (or ``True``) logs the trained model
        (``save_pretrained``, with the tokenizer or processor when the Trainer has
        one) when training ends, alias ``"final_model"``; ``"checkpoint"`` also logs
        each checkpoint folder the Trainer saves (``checkpoint-<step>``), aliases
        ``epoch_<epoch>`` and ``checkpoint_global_step_<step>``. All are versions of
        the ``"model"`` artifact ``model_name`` (default ``model-<run id>``), with
        the run's numeric summary as metadata. ``False`` logs no model. Left out,
        it follows ``WANDB_LOG_MODEL`` as W&B does (unset: no model).

    Example
    -------
    >>> from nbtrack.integrations.huggingface import NbtrackCallback  # doctest: +SKIP
    >>> trainer = Trainer(model, args, train_dataset=ds, callbacks=[NbtrackCallback()])  # doctest: +SKIP
    """

    def __init__(self, name: str | None = None, project: str | None = None, config: Any = None, *,
                 log_model: bool | str | None = None, model_name: str | None = None) -> None:
        if log_model is None:  # a script written for W&B sets this in the environment
            log_model = _LOG_MODEL_ENV.get(os.environ.get("WANDB_LOG_MODEL", "false").strip().lower(), "?")
            if log_model == "?":
                raise NbtrackError(f"WANDB_LOG_MODEL={os.environ['WANDB_LOG_MODEL']!r} is not one of "
                                   "'end', 'checkpoint' or 'false'; fix it or pass log_model=")
        if log_model is True:
            log_model = "end"
        if log_model not in (False, "end", "checkpoint"):
            raise NbtrackError(f"log_model must be False, 'end' (or True) or 'checkpoint'; got {log_model!r}")
        self._slot = RunSlot(name, project, config)
        self._training = False
        self._log_model = log_model
        self._model_name = model_name

    @property
    def run(self) -> Any:
        """The :class:`nbtrack.Run` this callback logs to (None before training)."""
        return self._slot.run

    def _get(self, args: Any) -> Any:
        run_name = getattr(args, "run_name", None)
        if self._slot.name is None and run_name and run_name != getattr(args, "output_dir", None):
            self._slot.name = run_name
        return self._slot.get()

    @guarded("transformers train begin")
    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self._slot.finish("failed")  # an own run still open here: the last train() raised
        self._training = True
        run = self._get(args)
        config: dict[str, Any] = {}
        model_config = getattr(model, "config", None)
        if model_config is not None:
            config.update(model_config if isinstance(model_config, dict) else model_config.to_dict())
        config.update(args.to_dict())
        run.config.update(config)
        if hasattr(model, "num_parameters"):
            run.config["model/num_parameters"] = int(model.num_parameters())

    @guarded("transformers log")
    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        run = self._get(args)
        numbers = {k: v for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for key in SUMMARY_KEYS:
            if key in numbers:
                run.summary[key] = numbers.pop(key)
        if numbers:
            run.log(rename_logs(numbers), step=state.global_step)

    @guarded("transformers evaluate")
    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self._training:  # trainer.evaluate() on its own: its run ends here
            self._slot.finish()

    @guarded("transformers train end")
    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self._slot.run is None:
            return
        run = self._slot.run
        run.summary["train/global_step"] = state.global_step
        if state.epoch is not None:
            run.summary["train/epoch"] = state.epoch
        best = finite_float(state.best_metric)
        if best is not None:
            run.summary["best_metric"] = best
        self._training = False
        if self._log_model:
            processing = kwargs.get("processing_class")  # "tokenizer" before transformers 4.46
            self._log_final_model(run, kwargs.get("model"),
                                  processing if processing is not None else kwargs.get("tokenizer"))
        self._slot.finish()

    @guarded("transformers checkpoint")
    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._log_model != "checkpoint" or not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return
        run = self._get(args)
        metadata = {**_numbers(run.summary), "global_step": state.global_step, "epoch": state.epoch}
        aliases = [f"checkpoint_global_step_{state.global_step}"]
        if state.epoch is not None:
            aliases.insert(0, f"epoch_{round(state.epoch, 2)}")
        run.log_artifact(folder, name=self._model_name or f"model-{run.id}", type="model",
                         metadata=metadata, aliases=aliases)

    @guarded("transformers model")
    def _log_final_model(self, run: Any, model: Any, processing: Any) -> None:
        if model is None:
            return
        with tempfile.TemporaryDirectory(prefix="nbtrack-transformers-") as folder:
            if hasattr(model, "save_pretrained"):
                model.save_pretrained(folder)
            else:  # a plain torch module given to the Trainer
                import torch

                torch.save(model.state_dict(), Path(folder) / "pytorch_model.bin")
            if hasattr(processing, "save_pretrained"):
                processing.save_pretrained(folder)
            run.log_artifact(folder, name=self._model_name or f"model-{run.id}", type="model",
                             metadata={**_numbers(run.summary), "final_model": True}, aliases=["final_model"])


def _numbers(summary: Any) -> dict[str, Any]:
    """The numeric summary values, W&B's metadata for a logged model."""
    return {k: v for k, v in dict(summary).items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and finite_float(v) is not None and not str(k).startswith("_")}


