"""The core training loop's own duties: NaN guard, Ctrl-C, evaluation points, timing."""

from __future__ import annotations

import signal
import sys
import time

import pytest
import torch
from torch import nn

from zoo import Batch, Generator, Trainer
from zoo.checkpoint import load_checkpoint
from zoo.data import InMemoryDataset
from zoo.errors import Diverged, PluginError
from zoo.training import Interrupted, train


class LineGenerator(Generator):
    latent_dim, num_classes, image_shape = 2, 0, (1, 4, 4)

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 16)

    def forward(self, z, labels=None):
        return torch.tanh(self.net(z)).view(-1, 1, 4, 4)


class ScriptedTrainer(Trainer):
    """Regresses samples on the batch mean; ``at_step`` maps a step number to an action (nan, sigint)."""

    def __init__(self, at_step: dict[int, str] | None = None):
        self.generator = LineGenerator()
        self.optimizer = torch.optim.SGD(self.generator.parameters(), lr=0.1)
        self.at_step, self.calls = at_step or {}, 0

    def modules(self):
        return {"G": self.generator}

    def optimizers(self):
        return {"G": self.optimizer}

    def train_step(self, batch: Batch) -> dict[str, float]:
        self.calls += 1
        loss = (self.generator(torch.randn(len(batch.images), 2)) - batch.images.mean()).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        action = self.at_step.get(self.calls)
        if action in ("sigint", "sigint twice"):
            signal.raise_signal(signal.SIGINT)
        if action == "sigint twice":
            signal.raise_signal(signal.SIGINT)
        if action == "exit":
            sys.exit(0)
        if action == "raise KeyboardInterrupt":
            raise KeyboardInterrupt
        return {"loss": float("nan") if action == "nan" else loss.item()}


@pytest.fixture
def data():
    return InMemoryDataset(torch.randint(0, 256, (16, 1, 4, 4), dtype=torch.uint8), torch.zeros(16, dtype=torch.long))


def train_briefly(trainer: Trainer, data, **options):
    """``train`` with the tests' small defaults (batch 4, seed 0, no progress bar), overridden by ``options``."""
    return train(trainer, data, **{"batch_size": 4, "seed": 0, "progress": False, **options})


def test_non_finite_loss_raises_diverged_at_that_step(data, tmp_path):
    path = tmp_path / "ckpt.pt"
    with pytest.raises(Diverged) as caught:
        train_briefly(ScriptedTrainer({3: "nan"}), data, steps=10, checkpoint_path=path, checkpoint_every=1)
    assert caught.value.step == 3
    assert load_checkpoint(path)["step"] == 2, "the diverged state must not be checkpointed"


def test_ctrl_c_finishes_the_step_saves_and_resume_completes(data, tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt, match="interrupted at step 3"):
        options = dict(steps=8, checkpoint_path=path, checkpoint_every=100, log_every=1)
        train_briefly(ScriptedTrainer({3: "sigint"}), data, **options)
    assert load_checkpoint(path)["step"] == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the SIGINT handler was not restored"

    resumed = ScriptedTrainer()
    result = train_briefly(resumed, data, steps=8, checkpoint_path=path, resume=True, log_every=1)
    assert resumed.calls == 5 and result.step == 8
    assert [row["step"] for row in result.history] == [1, 2, 3, 4, 5, 6, 7, 8]

    torch.manual_seed(0)
    straight = ScriptedTrainer()
    train_briefly(straight, data, steps=8)
    assert torch.equal(straight.generator.net.weight, resumed.generator.net.weight)


def test_first_ctrl_c_is_acknowledged_at_once(data, tmp_path, capfd):
    with pytest.raises(Interrupted):
        train_briefly(ScriptedTrainer({2: "sigint"}), data, steps=8, checkpoint_path=tmp_path / "ckpt.pt")
    assert (
        "Ctrl-C received: stopping after the current step and saving a checkpoint; press Ctrl-C again to stop at "
        "once" in capfd.readouterr().err
    )


def test_second_ctrl_c_stops_at_once_and_names_the_checkpoint_on_disk(data, tmp_path):
    path = tmp_path / "ckpt.pt"
    with pytest.raises(Interrupted) as caught:
        train_briefly(ScriptedTrainer({5: "sigint twice"}), data, steps=8, checkpoint_path=path, checkpoint_every=2)
    assert (caught.value.forced, caught.value.step, caught.value.saved_step) == (True, 4, 4)
    assert str(caught.value) == "stopped during step 5 by a second Ctrl-C; the last checkpoint is at step 4"
    assert load_checkpoint(path)["step"] == 4
    with pytest.raises(Interrupted, match="no checkpoint was saved") as caught:
        train_briefly(ScriptedTrainer({1: "sigint twice"}), data, steps=8, checkpoint_path=tmp_path / "other.pt")
    assert caught.value.saved_step is None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    ("action", "raised"), [("exit", "SystemExit: 0"), ("raise KeyboardInterrupt", "KeyboardInterrupt")]
)
def test_train_step_ending_the_process_is_the_plugins_failure(data, action, raised):
    with pytest.raises(PluginError, match=f"train_step failed at step 2: {raised}"):
        train_briefly(ScriptedTrainer({2: action}), data, steps=4)


def test_evaluation_points_are_called_and_not_timed(data):
    seen = []

    def evaluate(step, images_seen, seconds):  # takes measurable time, which must not count as training
        seen.append((step, images_seen, seconds))
        time.sleep(0.25)

    started = time.perf_counter()
    result = train_briefly(ScriptedTrainer(), data, steps=6, evaluate_at=frozenset({2, 6}), on_evaluate=evaluate)
    wall = time.perf_counter() - started
    assert [(step, images) for step, images, _ in seen] == [(2, 8), (6, 24)] and 0 < seen[0][2] <= seen[1][2]
    assert result.images_seen == 24 and result.images_per_second > 0
    assert result.seconds <= wall - 0.5, "the evaluations' time was counted as training time"
    assert seen[1][2] <= result.seconds


class TensorTrainer(ScriptedTrainer):
    """Returns its losses as tensors, as a GPU-friendly trainer does; records whether autocast was on, and in
    which dtype, during each step; ``at_step`` may make a loss infinite (``inf``)."""

    def __init__(self, at_step: dict[int, str] | None = None):
        super().__init__(at_step)
        self.autocast: list[tuple[bool, torch.dtype]] = []

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        self.calls += 1
        self.autocast.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        loss = (self.generator(torch.randn(len(batch.images), 2)) - batch.images.mean()).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        scale = float("inf") if self.at_step.get(self.calls) == "inf" else 1.0
        return {"loss": loss.detach() * scale}


def test_losses_are_read_to_the_host_only_at_logging_evaluation_and_final_steps(data, monkeypatch):
    import zoo.training

    monkeypatch.setattr(zoo.training, "READ_EVERY_STEP", frozenset())  # as on a GPU
    reads = []
    read = zoo.training._losses_to_host
    monkeypatch.setattr(zoo.training, "_losses_to_host", lambda pending: reads.append(len(pending)) or read(pending))
    result = train_briefly(TensorTrainer(), data, steps=10, log_every=5, evaluate_at=frozenset({3}), on_evaluate=print)
    assert reads == [3, 2, 5], "one transfer per read, covering every step since the last"
    assert [row["step"] for row in result.history] == [5, 10] and isinstance(result.history[0]["loss"], float)


def test_a_bf16_run_steps_under_autocast_and_still_catches_the_first_non_finite_step(data, monkeypatch):
    monkeypatch.setattr("zoo.training.READ_EVERY_STEP", frozenset())  # as on a GPU
    trainer = TensorTrainer({4: "inf"})
    with pytest.raises(Diverged) as caught:
        train_briefly(trainer, data, steps=10, log_every=5, precision="bf16")
    assert caught.value.step == 4 and caught.value.losses == {"loss": float("inf")}
    assert trainer.autocast == [(True, torch.bfloat16)] * 5, "read only at step 5, which names step 4"
    assert trainer.generator.net.weight.dtype == torch.float32, "weights stay float32"

    plain = TensorTrainer()
    history = train_briefly(plain, data, steps=2, log_every=1).history
    assert not any(enabled for enabled, _ in plain.autocast) and all(isinstance(h["loss"], float) for h in history)
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        train_briefly(plain, data, steps=1, precision="fp16")


def test_compile_compiles_every_network_in_place(data, monkeypatch):
    compiled = []

    def fake_compile(function, **options):  # torch.compile itself takes tens of seconds on a CPU: see benchmarks/
        compiled.append(function.__self__)
        return function

    monkeypatch.setattr(torch, "compile", fake_compile)
    trainer = TensorTrainer()
    keys = set(trainer.generator.state_dict())
    train_briefly(trainer, data, steps=2, compile=True)
    assert compiled == [trainer.generator] and set(trainer.generator.state_dict()) == keys


class ThreeBatchTrainer(ScriptedTrainer):
    """Asks for three batches per step and records the images it was handed."""

    batches_per_step = 3

    def __init__(self, at_step: dict[int, str] | None = None):
        super().__init__(at_step)
        self.seen: list[torch.Tensor] = []

    def train_step(self, batch: Batch) -> dict[str, float]:
        self.seen.append(batch.images.clone())
        return super().train_step(batch)


def test_a_step_gets_the_batches_it_asks_for_and_images_seen_counts_them_all(data, tmp_path):
    evaluated = []
    trainer = ThreeBatchTrainer()
    on_evaluate = lambda step, images, seconds: evaluated.append((step, images))  # noqa: E731
    result = train_briefly(trainer, data, steps=4, evaluate_at=frozenset({2}), on_evaluate=on_evaluate)
    assert [len(images) for images in trainer.seen] == [12] * 4, "three batches of 4 per step"
    assert result.images_seen == 48 and evaluated == [(2, 24)]
    sampler = torch.Generator().manual_seed(0)  # the run's seeded sampler, drawing 12 images per step
    assert all(torch.equal(images, data.sample(12, sampler).images) for images in trainer.seen)
    assert [len(part.images) for part in Batch(trainer.seen[0], torch.zeros(12)).split(3)] == [4, 4, 4]

    with pytest.raises(Diverged) as caught:
        train_briefly(ThreeBatchTrainer({2: "nan"}), data, steps=4)
    assert (caught.value.step, caught.value.images_seen) == (2, 24)


def test_resume_draws_the_same_batches_when_a_step_takes_several(data, tmp_path):
    path = tmp_path / "ckpt.pt"
    straight = ThreeBatchTrainer()
    train_briefly(straight, data, steps=4)
    train_briefly(ThreeBatchTrainer(), data, steps=2, checkpoint_path=path)
    resumed = ThreeBatchTrainer()
    result = train_briefly(resumed, data, steps=4, checkpoint_path=path, resume=True)
    assert result.images_seen == 48
    assert all(torch.equal(a, b) for a, b in zip(straight.seen[2:], resumed.seen, strict=True))


@pytest.mark.parametrize("count", [0, 1.5, "2", True])
def test_batches_per_step_must_be_a_positive_int(data, count):
    trainer = ScriptedTrainer()
    trainer.batches_per_step = count
    with pytest.raises(PluginError, match="ScriptedTrainer.batches_per_step must be a positive int"):
        train_briefly(trainer, data, steps=1)


class CountingTrainer(ScriptedTrainer):
    """Keeps a step counter and a schedule outside its networks, in its extra state (or not, ``keep=False``)."""

    def __init__(self, keep: bool = True):
        super().__init__()
        self.keep, self.counter, self.schedule = keep, 0, {"rates": [0.1], "last": torch.zeros(2)}

    def train_step(self, batch: Batch) -> dict[str, float]:
        self.counter += 1
        self.schedule["rates"].append(self.schedule["rates"][-1] / 2)
        self.schedule["last"] = batch.images.flatten()[:2].clone()
        return super().train_step(batch)

    def extra_state(self):
        return {"counter": self.counter, "schedule": self.schedule} if self.keep else {}

    def load_extra_state(self, state):
        if self.keep:
            self.counter, self.schedule = state["counter"], state["schedule"]


def test_extra_state_is_saved_readable_with_weights_only_and_restored_on_resume(data, tmp_path):
    path = tmp_path / "ckpt.pt"
    straight = CountingTrainer()
    train_briefly(straight, data, steps=5)
    train_briefly(CountingTrainer(), data, steps=3, checkpoint_path=path)
    assert torch.load(path, weights_only=True)["trainer"]["extra"]["counter"] == 3
    resumed = CountingTrainer()
    train_briefly(resumed, data, steps=5, checkpoint_path=path, resume=True)
    assert resumed.counter == 5 and resumed.schedule["rates"] == straight.schedule["rates"]
    assert torch.equal(resumed.schedule["last"], straight.schedule["last"])

    other = tmp_path / "other.pt"  # the counter kept as a plain attribute only: lost on resume
    train_briefly(CountingTrainer(keep=False), data, steps=3, checkpoint_path=other)
    forgetful = CountingTrainer(keep=False)
    train_briefly(forgetful, data, steps=5, checkpoint_path=other, resume=True)
    assert forgetful.counter == 2


def test_extra_state_that_weights_only_cannot_read_is_refused_when_saving(data, tmp_path):
    trainer = CountingTrainer()
    trainer.schedule["kinds"] = ["halving", object()]
    with pytest.raises(PluginError, match=r"extra_state\(\)\['schedule'\]\['kinds'\]\[1\] is a object"):
        train_briefly(trainer, data, steps=1, checkpoint_path=tmp_path / "ckpt.pt")
