"""Flows other engineers add to the server (issue 5). Until the server has one, it must
answer "method not found" (-32601) for a request, or invalid params naming the "unknown
command" for a command: the clients turn those into "not available yet". Once it exists, its
answer must have the shape the clients read, and its test moves to the flow's own file.

Landed: `acdp/ask` and `acdp.train` (test_flows.py, test_training.py), `acdp/samples` and the
review commands (test_review.py), and `acdp.exportDataset`, checked here with its answer."""

from pathlib import Path

from lsprotocol import types

from conftest import indexed, plain


async def test_export_dataset_answers_with_its_run_summary(client, tmp_path):
    await indexed(client)
    out = tmp_path / "dataset"
    summary = plain(
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="acdp.exportDataset", arguments=[{"out": str(out)}])
        )
    )
    assert Path(summary["out"]) == out
    assert summary["samples"] > 0 and summary["samples"] == summary["train"] + summary["dev"] + summary["test"], summary
    assert summary["files"] > 0
    for name in ("samples.jsonl", "stats.json", "stats.md", "manifest.json"):
        assert (out / name).is_file(), name
