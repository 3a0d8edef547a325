"""Flows other engineers are adding to the server (issue 5). Until the server has one, it
must answer "method not found" (-32601) for a request, or invalid params naming the
"unknown command" for a command: the clients turn those into "not available yet". Once it
exists, its answer must have the shape the clients read. (`acdp/ask` and `acdp.train` have
landed: test_flows.py checks them.)"""

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from conftest import indexed

METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


def field(obj, name):
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def check_samples(result):
    samples = result if isinstance(result, list) else field(result, "samples")
    assert isinstance(samples, list)


async def answer_or_not_yet(send, not_yet):
    try:
        return await send()
    except JsonRpcException as error:
        assert not_yet(error), f"an error other than 'not available yet': {error!r}"
        return None


@pytest.mark.parametrize(
    ("method", "params", "check"),
    [
        ("acdp/samples", {"filter": {}}, check_samples),
    ],
)
async def test_request_answers_or_is_method_not_found(client, method, params, check):
    await indexed(client)
    result = await answer_or_not_yet(
        lambda: client.protocol.send_request_async(method, params),
        lambda error: error.code == METHOD_NOT_FOUND,
    )
    if result is not None:
        check(result)


async def test_export_dataset_answers_or_is_an_unknown_command(client, tmp_path):
    await indexed(client)
    await answer_or_not_yet(
        lambda: client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="acdp.exportDataset", arguments=[{"out": str(tmp_path / "dataset")}])
        ),
        lambda error: error.code == INVALID_PARAMS and "unknown command" in str(error),
    )
