"""A plugin cannot end, stop or silence zoo: what it does at import or in a hook is its own failure; what no
process survives in itself (os._exit, a segfault) is found by `zoo plugins probe`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import cli_args, smoke_profile, toy_plugin_source, zoo
from zoo.cli import main
from zoo.plugins import ZooPluginWarning, load_registry

EXITS_IN_HOOK = """
    import sys
    from zoo import hookimpl

    @hookimpl
    def register_models(register):
        sys.exit("no models today")
"""


@pytest.mark.parametrize(
    ("source", "reported"),
    [
        ("import sys; sys.exit(0)", "import failed: SystemExit: 0"),
        ("import sys; sys.exit()", "import failed: SystemExit"),
        ("raise KeyboardInterrupt('plugin code, not the user')", "import failed: KeyboardInterrupt: plugin code"),
        ("raise GeneratorExit", "import failed: GeneratorExit"),
        (EXITS_IN_HOOK, "register_models failed: SystemExit: no models today"),
        ("import io, sys; sys.stdout = io.StringIO()", "import failed: changed sys.stdout"),
        ("import io, sys; sys.stderr = io.StringIO()", "import failed: changed sys.stderr"),
        ("import os; os.chdir(os.sep)", "import failed: changed the working directory"),
        ("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)", "import failed: changed the SIGINT handler"),
    ],
)
def test_whatever_a_plugin_does_at_import_or_in_a_hook_is_its_own_failure(install_plugin, source, reported):
    install_plugin("zoo-rude", {"rude": "toy_rude"}, {"toy_rude": source})
    cwd = os.getcwd()
    with pytest.warns(ZooPluginWarning, match=r"skipping plugin rude \(zoo-rude\)"):
        registry = load_registry()
    rude = next(p for p in registry.plugins if p.name == "rude")
    assert rude.status == "failed" and rude.error.startswith(reported), rude.error
    assert "dcgan" in registry.models and os.getcwd() == cwd


@pytest.mark.filterwarnings("always::zoo.plugins.ZooPluginWarning")
def test_a_plugin_calling_sys_exit_does_not_turn_commands_into_silent_successes(install_plugin):
    install_plugin("zoo-exit", {"exits": "toy_exits"}, {"toy_exits": "import sys; sys.exit(0)"})
    listed = CliRunner().invoke(main, ["models"])
    assert listed.exit_code == 0 and "dcgan" in listed.stdout
    assert "skipping plugin exits (zoo-exit): import failed: SystemExit: 0" in listed.stderr


EXITS_IN_FACTORY = (
    toy_plugin_source("toy_quitter")
    + """
import sys

def build(image_shape, num_classes, *, latent_dim: int = 8):
    sys.exit(0)
"""
)


def test_a_factory_calling_sys_exit_fails_the_command_naming_where(install_plugin, tiny_mnist_root, tmp_path):
    install_plugin("zoo-quitter", {"toy_quitter": "toy_quitter"}, {"toy_quitter": EXITS_IN_FACTORY})
    args = ["train", "toy_quitter", "--dataset", "mnist", "--data-root", tiny_mnist_root, "--out", tmp_path / "run"]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "toy_quitter.py:" in result.stderr and "called sys.exit(0) in the middle of the command" in result.stderr


@pytest.mark.filterwarnings("always::zoo.plugins.ZooPluginWarning")
def test_a_plugin_cannot_silence_zoo_or_corrupt_its_output(install_plugin):
    """One plugin prints at import and turns every warning off; another fails: stdout stays machine-readable,
    and the failure is still reported."""
    chatty = "import warnings; print('hello from a plugin'); warnings.simplefilter('ignore')"
    install_plugin("zoo-chatty", {"chatty": "toy_chatty"}, {"toy_chatty": chatty})
    install_plugin("zoo-broken", {"zbroken": "toy_zbroken"}, {"toy_zbroken": "raise RuntimeError('boom')"})
    shown = CliRunner().invoke(main, ["plugins", "--json"])
    rows = {row["name"]: row for row in json.loads(shown.stdout)}
    assert rows["chatty"]["status"] == "ok" and "hello from a plugin" in shown.stderr
    listed = CliRunner().invoke(main, ["models"])
    assert "skipping plugin zbroken (zoo-broken): import failed: RuntimeError: boom" in listed.stderr


CHATTY = """
    from toy_gan import GANTrainer, ModelSpec, ToyDiscriminator, ToyGenerator, hookimpl


    class ChattyGenerator(ToyGenerator):
        def forward(self, z, labels=None):
            if not self.training:
                print("chatty: sampling")
            return super().forward(z, labels)


    class ChattyTrainer(GANTrainer):
        def train_step(self, batch):
            print("chatty: a step")
            return super().train_step(batch)


    def build(image_shape, num_classes, *, latent_dim: int = 4):
        print("chatty: building")
        return ChattyTrainer(ChattyGenerator(image_shape, latent_dim), ToyDiscriminator(image_shape), lr=1e-3,
                             betas=(0.5, 0.9))


    @hookimpl
    def register_models(register):
        register(ModelSpec(name="toy_chatty", family="gan", conditional=False, paper="none (a test fixture)",
                           factory=build, license="MIT"))
"""


@pytest.fixture
def chatty(install_plugin):
    return install_plugin(
        "zoo-chatty", {"chatty": "toy_chatty"}, {"toy_gan": toy_plugin_source(), "toy_chatty": CHATTY}
    )


def test_what_a_plugin_prints_while_building_training_and_sampling_goes_to_stderr(chatty, tiny_mnist_root, tmp_path):
    """zoo's own stdout stays its own (a pipe, --json), in train, score and sample alike."""
    run, options = tmp_path / "run", dict(data_root=tiny_mnist_root, profile=smoke_profile(tmp_path))
    trained = zoo("train", "toy_chatty", dataset="mnist", steps=2, batch_size=4, out=run, **options)
    assert trained.exit_code == 0, trained.output
    assert "chatty:" not in trained.stdout and "trained toy_chatty on" in trained.stdout
    for said in ("building", "a step", "sampling"):
        assert f"chatty: {said}" in trained.stderr
    scored = zoo("score", run, "--json", work_dir=tmp_path / "work", **options)
    assert scored.exit_code == 0 and json.loads(scored.stdout)["scores"] and "chatty: sampling" in scored.stderr
    sampled = zoo("sample", run, "-o", tmp_path / "grid.png")
    assert sampled.exit_code == 0 and "chatty:" not in sampled.stdout and "chatty: building" in sampled.stderr


@pytest.mark.slow
def test_what_a_plugin_prints_in_a_bench_cell_goes_to_stderr(chatty, tiny_mnist_root, tmp_path):
    args = cli_args("bench", "toy_chatty", profile=smoke_profile(tmp_path), results=tmp_path, work_dir=tmp_path / "w")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(chatty), os.environ.get("PYTHONPATH")]))}
    command = [str(Path(sys.executable).parent / "zoo"), *args, "--data-root", str(tiny_mnist_root)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "chatty:" not in done.stdout and "toy_chatty on mnist, seed 0: ok" in done.stdout
    assert "chatty: a step" in done.stderr and "chatty: sampling" in done.stderr


def test_a_real_ctrl_c_during_plugin_import_still_stops_zoo(install_plugin):
    """A SIGINT is the user's (it cannot be told from a Ctrl-C): it stops the command, as it always did."""
    install_plugin("zoo-slow", {"slow": "toy_slow"}, {"toy_slow": "import os, signal; os.kill(os.getpid(), 2)"})
    with pytest.raises(KeyboardInterrupt):
        load_registry()


@pytest.mark.slow
def test_probe_finds_plugins_that_end_the_process_and_says_how_to_run_without_them(install_plugin):
    install_plugin("zoo-quits", {"quits": "toy_quits"}, {"toy_quits": "import os; os._exit(0)"})
    install_plugin("zoo-crash", {"crash": "toy_crash"}, {"toy_crash": "import os, signal; os.kill(os.getpid(), 11)"})
    install_plugin("zoo-raises", {"raises": "toy_raises"}, {"toy_raises": "raise ImportError('needs libfoo')"})
    result = CliRunner().invoke(main, ["plugins", "probe", "quits", "crash", "raises"])
    assert result.exit_code == 1, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "fatal" in rows["quits"] and "exit status 0" in rows["quits"]
    assert "fatal" in rows["crash"] and "SIGSEGV" in rows["crash"]
    assert "failed" in rows["raises"] and "ImportError: needs libfoo" in rows["raises"]
    assert "loading crash, quits ends the zoo process" in result.stderr
    leave_out = result.stderr.split("ZOO_LOAD_PLUGINS=")[1].split()[0].split(",")
    assert {"dcgan", "raises"} <= set(leave_out) and not {"crash", "quits"} & set(leave_out)


def test_probe_rejects_an_unknown_plugin_name():
    result = CliRunner().invoke(main, ["plugins", "probe", "nope"])
    assert result.exit_code == 2 and "no plugin nope installed" in result.stderr
