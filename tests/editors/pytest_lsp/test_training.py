"""acdp.train through pytest-lsp's client with a tiny random Qwen2 model (tests/editors/
tiny_model.py, the port of tests/support/tiny_model.rs): progress reports carry the loss, the
progress's cancel (`window/workDoneProgress/cancel`) stops the run after the current step with
a checkpoint, and a run that ends writes the adapter with its loss plot (loss.svg)."""

import asyncio
import importlib.util
import re
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import ACDP_BIN, make_client, open_session, plain, shutdown, wait_until

_spec = importlib.util.spec_from_file_location("tiny_model", Path(__file__).resolve().parents[1] / "tiny_model.py")
tiny_model = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_model)

STEP = re.compile(r"^step (\d+)/(\d+), loss (\d+\.\d+)$")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-model")
    tiny_model.write_tiny_model(directory)
    return directory


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[str(ACDP_BIN), "lsp"], client_factory=make_client),
)
async def trainer(lsp_client: LanguageClient, shop: Path, tmp_path: Path, model_dir: Path):
    """A session on `shop` with the tiny model as `modelDir` (as tests/lsp.rs configures it)
    and the tiny dataset in `.acdp/dataset`, where acdp.train reads by default."""
    tiny_model.write_tiny_dataset(shop / ".acdp" / "dataset")
    lsp_client.log_file = tmp_path / "lsp.log"
    await open_session(lsp_client, shop, {
        "logFile": str(lsp_client.log_file),
        "modelDir": str(model_dir),
        "adapter": "",
        "sampleLanguage": "en",
        "llm": {"baseUrl": "", "apiKeyEnv": "OPENAI_API_KEY"},
    })
    yield
    await shutdown(lsp_client)


def train_tokens(client: LanguageClient) -> list[str]:
    return [str(t) for t in client.progress_reports if str(t).startswith("acdp/train/")]


def steps_of(reports) -> list[tuple[int, int, float]]:
    """(step, total, loss) of each report; fails on a report that is not "step i/n, loss x"."""
    out = []
    for report in reports:
        if isinstance(report, types.WorkDoneProgressReport):
            match = STEP.match(report.message or "")
            assert match, f"report without step and loss: {report.message!r}"
            out.append((int(match[1]), int(match[2]), float(match[3])))
    return out


def train(client: LanguageClient, **arguments):
    return asyncio.ensure_future(
        client.workspace_execute_command_async(types.ExecuteCommandParams(command="acdp.train", arguments=[arguments]))
    )


async def test_cancel_from_the_progress_stops_after_the_step_with_a_checkpoint(trainer):
    shop = trainer.shop
    out = shop / "adapter-long"  # relative `out` is taken from the folder
    epochs, samples = 4000, len(tiny_model.TRAIN)
    total = epochs * samples
    running = train(trainer, out="adapter-long", epochs=epochs, accum=1, lr=1e-2, warmup=1, checkpoint_every=0)

    await wait_until(lambda: train_tokens(trainer), "window/workDoneProgress/create acdp/train/N")
    (token,) = train_tokens(trainer)
    await wait_until(lambda: steps_of(trainer.progress_reports[token]), "the first step report")
    begin = trainer.progress_reports[token][0]
    assert isinstance(begin, types.WorkDoneProgressBegin)
    assert begin.title == "acdp: training"
    assert begin.cancellable is True
    assert begin.message == f"{shop / '.acdp' / 'dataset'} -> {out}"
    first = steps_of(trainer.progress_reports[token])[0]
    assert first[0] == 1 and first[1] == total, first

    trainer.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    report = plain(await asyncio.wait_for(running, timeout=60))

    assert report["cancelled"] is True, report
    steps = report["steps"]
    assert 1 <= steps < total // 10, f"{steps} of {total} steps: the cancel did not stop the run"
    assert report["adapter_dir"] == str(out)
    assert report["dev_loss"] is None, "a cancelled run computes no dev loss"
    assert report["first_loss"] == pytest.approx(first[2], abs=1e-4)

    # The step the cancel stopped at is the last one reported, and the only checkpoint
    # (checkpoint_every 0); no final adapter; loss.csv and loss.svg cover the steps done.
    await wait_until(lambda: isinstance(trainer.progress_reports[token][-1], types.WorkDoneProgressEnd), "the progress end")
    reports = trainer.progress_reports[token]
    reported = steps_of(reports)
    assert [s for s, _, _ in reported] == list(range(1, steps + 1))
    assert reported[-1][2] == pytest.approx(report["last_loss"], abs=1e-4)
    checkpoint = out / f"checkpoint-{steps:06d}"
    assert reports[-1].message == f"cancelled after step {steps}; checkpoint in {checkpoint}"
    assert sorted(p.name for p in out.glob("checkpoint-*")) == [checkpoint.name]
    for name in ("adapter_model.safetensors", "adapter_config.json", "optimizer.safetensors", "trainer_state.json"):
        assert (checkpoint / name).is_file(), name
    assert not (out / "adapter_model.safetensors").exists(), "a cancelled run writes no final adapter"
    csv = (out / "loss.csv").read_text().splitlines()
    assert csv[0] == "step,loss,learning_rate" and len(csv) == steps + 1
    assert (out / "loss.svg").read_text().startswith("<svg")
    await wait_until(
        lambda: any(f"training cancelled after step {steps}" in m.message for m in trainer.messages),
        "the cancelled message",
    )

    # The server is free again, and `resume` continues from that checkpoint to the end.
    epochs_after = steps // samples + 2
    resumed = plain(await asyncio.wait_for(train(trainer, out="adapter-long", resume=True, epochs=epochs_after, accum=1, checkpoint_every=0), timeout=60))
    assert resumed["resumed_from_step"] == steps, resumed
    assert resumed["cancelled"] is False and resumed["steps"] == epochs_after * samples, resumed
    assert (out / "adapter_model.safetensors").is_file()


async def test_a_finished_run_writes_the_adapter_and_its_loss_plot(trainer):
    shop = trainer.shop
    adapter = shop / ".acdp" / "adapter"
    report = plain(await asyncio.wait_for(train(trainer, epochs=4, accum=1, lr=1e-2, warmup=1), timeout=120))

    total = 4 * len(tiny_model.TRAIN)
    assert report["cancelled"] is False, report
    assert report["steps"] == total
    assert report["adapter_dir"] == str(adapter)
    assert report["last_loss"] < report["first_loss"], report
    assert report["dev_loss"] is not None
    assert (adapter / "adapter_model.safetensors").is_file()
    assert (adapter / "adapter_config.json").is_file()
    svg = Path(report["adapter_dir"]) / "loss.svg"
    assert svg.is_file()
    text = svg.read_text()
    assert text.startswith("<svg") and "<polyline" in text and f"step {total}" in text
    points = re.search(r'points="([^"]*)"', text)[1].split()
    assert len(points) == total
    csv = (adapter / "loss.csv").read_text().splitlines()
    assert len(csv) == total + 1

    (token,) = train_tokens(trainer)
    reports = trainer.progress_reports[token]
    reported = steps_of(reports)
    assert [s for s, _, _ in reported] == list(range(1, total + 1))
    assert {t for _, t, _ in reported} == {total}
    percentages = [r.percentage for r in reports if isinstance(r, types.WorkDoneProgressReport)]
    assert percentages == sorted(percentages) and percentages[-1] == 100
    end = reports[-1]
    assert isinstance(end, types.WorkDoneProgressEnd)
    assert end.message == (
        f"{total} steps, loss {report['first_loss']:.4f} -> {report['last_loss']:.4f}; adapter in {adapter}"
    )
    await wait_until(lambda: any(f"adapter in {adapter}" in m.message for m in trainer.messages), "the trained message")
