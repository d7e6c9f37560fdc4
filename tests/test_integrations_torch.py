"""watch() on a real PyTorch model: per-layer gradient and parameter points, exact values."""

from __future__ import annotations

import numpy as np
import pytest

import nbtrack

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")

from nbtrack.integrations.torch import unwatch, watch  # noqa: E402


def tiny():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))


def train(model, steps, run, seen=None):
    """A plain loop; ``seen`` gets each step's gradients and weights as the hooks saw them."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 3, generator=torch.Generator().manual_seed(1)), torch.ones(8, 1)
    for _ in range(steps):
        opt.zero_grad()
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        if seen is not None:
            seen.append(({n: p.grad.clone() for n, p in model.named_parameters()}, before))
        opt.step()
        if run is not None:
            run.log({"loss": loss.item()})


def values(name, key):
    h = nbtrack.history(name, keys=key)
    return list(zip(h["step"], h["value"]))


def test_gradients_every_second_backward_as_numbers(store_dir):
    model, seen = tiny(), []
    run = nbtrack.init(name="grads")
    handle = watch(model, log_freq=2, histograms=False)
    train(model, 5, run, seen)
    run.finish()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for name in names:
        grads = {step: seen[step][0][name] for step in (1, 3)}  # the 2nd and 4th backward
        assert values("grads", f"gradients/{name}/norm") == [(s, g.norm().item()) for s, g in grads.items()]
        assert values("grads", f"gradients/{name}/mean") == [(s, g.mean().item()) for s, g in grads.items()]
        assert values("grads", f"gradients/{name}/std") == [
            (s, g.std(unbiased=False).item()) for s, g in grads.items()]
    keys = set(nbtrack.history("grads")["key"])
    assert not any(k.startswith("parameters/") for k in keys)
    handle.remove()


def test_all_logs_parameter_histograms_after_forward(store_dir):
    try:
        nbtrack.Histogram  # noqa: B018
    except (AttributeError, ImportError):
        pytest.skip("this nbtrack core has no nbtrack.Histogram yet")
    model, seen = tiny(), []
    run = nbtrack.init(name="params")
    watch(model, log="all", log_freq=3)
    train(model, 3, run, seen)
    run.finish()
    weights = seen[2][1]["0.weight"]  # parameters as the 3rd forward pass saw them
    assert values("params", "parameters/0.weight/norm") == [(2, weights.norm().item())]
    media = nbtrack.media("params", kind="histogram")
    rows = media[media["key"] == "parameters/0.weight"]
    assert list(rows["step"]) == [2]
    counts, edges = np.histogram(weights.numpy().astype(np.float64), bins=64)
    data = rows["data"].iloc[0]
    assert [float(c) for c in data["counts"]] == counts.tolist()
    assert [float(e) for e in data["edges"]] == edges.tolist()
    grads = media[media["key"] == "gradients/2.bias"]
    assert list(grads["step"]) == [2]
    assert [float(c) for c in grads["data"].iloc[0]["counts"]] == np.histogram(
        seen[2][0]["2.bias"].numpy().astype(np.float64), bins=64)[0].tolist()
    unwatch(model)


def test_watch_follows_the_active_run_and_unwatch_stops_it(store_dir):
    model = tiny()
    watch(model, log_freq=1, histograms=False)
    watch(model, log_freq=1, histograms=False)  # watching again replaces, never doubles
    for name in ("first", "second"):
        with nbtrack.init(name=name) as run:
            train(model, 2, run)
    assert [s for s, _ in values("second", "gradients/2.bias/norm")] == [0, 1]
    assert len(values("first", "gradients/2.bias/norm")) == 2
    unwatch(model)
    with nbtrack.init(name="third") as run:
        train(model, 2, run)
    assert set(nbtrack.history("third")["key"]) == {"loss"}
    watch(model, log="all", log_freq=1)
    train(model, 2, None)  # with no run active the hooks log nothing and break nothing
    assert set(nbtrack.runs()["name"]) == {"first", "second", "third"}


def test_watch_says_what_it_accepts():
    with pytest.raises(nbtrack.NbtrackError, match="'gradients', 'parameters' or 'all'"):
        watch(tiny(), log="weights")
    with pytest.raises(nbtrack.NbtrackError, match="positive integer"):
        watch(tiny(), log_freq=0)
