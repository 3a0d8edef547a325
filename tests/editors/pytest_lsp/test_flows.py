"""acdp lsp through pytest-lsp's client: the flows the editors use, checked against
`acdp index` of the same files. One test per flow; new flows go in test_coming_flows.py until
the server has them. No model is configured here: tests/lsp.rs asks and trains with a tiny one."""

import subprocess

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from conftest import (
    ACDP_BIN,
    METHOD,
    SERVICE,
    acdp_chunk,
    indexed,
    plain,
    open_document,
    position_of,
    progress_ends,
    uri,
    wait_until,
)

INVALID_PARAMS = -32602


async def test_initialize_advertises_acdp_and_indexes_with_progress(client):
    caps = client.initialize_result.capabilities
    assert caps.hover_provider
    assert {"acdp.reindex", "acdp.showChunk"} <= set(caps.execute_command_provider.commands)
    assert caps.experimental["acdpChunk"] is True
    assert client.initialize_result.server_info.name == "acdp"

    await indexed(client)
    token, end = progress_ends(client)[0]
    assert str(token).startswith("acdp/index/")
    reports = client.progress_reports[token]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert reports[0].title == "acdp: indexing"
    percentages = [r.percentage for r in reports[:-1] if r.percentage is not None]
    assert percentages == sorted(percentages) and percentages[-1] == 100
    assert end.message.startswith("indexed ") and "1 folder(s)" in end.message


async def test_file_watchers_are_registered_dynamically(client):
    await wait_until(lambda: client.registrations, "client/registerCapability")
    (registration,) = client.registrations
    assert registration.method == "workspace/didChangeWatchedFiles"
    globs = {w["globPattern"] for w in registration.register_options["watchers"]}
    assert globs == {"**/*.java", "**/*.xml"}


async def test_hover_on_a_service_method_shows_its_chunk(client, expected_chunks):
    doc_uri, text = open_document(client)
    want = expected_chunks[METHOD]
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=doc_uri),
            position=position_of(text, "generateOrder("),
        )
    )
    assert hover.contents.kind == types.MarkupKind.Markdown
    markdown = hover.contents.value
    assert want["chunk_id"] in markdown
    assert METHOD in markdown
    assert want["content_hash"] in markdown
    assert f"{want['start_line']}-{want['end_line']}" in markdown
    assert hover.range.start.line == want["start_line"] - 1
    assert hover.range.end.line == want["end_line"] - 1


async def test_acdp_chunk_equals_acdp_index(client, expected_chunks):
    doc_uri, text = open_document(client)
    want = expected_chunks[METHOD]
    chunk = await acdp_chunk(client, doc_uri, position_of(text, "generateOrder("))
    assert chunk["chunk_id"] == want["chunk_id"]
    assert chunk["symbol"] == METHOD
    assert chunk["kind"] == "method"
    assert chunk["content_hash"] == want["content_hash"]
    assert chunk["uri"] == doc_uri
    assert chunk["version"] == 1
    data = text.encode("utf-8")
    assert chunk["text"] == data[want["start_byte"] : want["end_byte"]].decode("utf-8")


async def test_acdp_chunk_answers_unopened_files_from_the_index(client, expected_chunks):
    await indexed(client)
    text = (client.shop / SERVICE).read_text(encoding="utf-8")
    chunk = await acdp_chunk(client, uri(client.shop), position_of(text, "generateOrder("))
    assert chunk["chunk_id"] == expected_chunks[METHOD]["chunk_id"]
    assert chunk["version"] is None
    outside = await acdp_chunk(client, uri(client.shop), types.Position(line=0, character=0))
    assert outside is None


def test_code_action_show_chunk_runs_through_execute_command(raw, shop, expected_chunks):
    # Read raw: pygls types the answer as Command | CodeAction and reads it as a Command.
    text = (shop / SERVICE).read_text(encoding="utf-8")
    doc_uri = uri(shop)
    raw.notify("textDocument/didOpen", {"textDocument": {"uri": doc_uri, "languageId": "java", "version": 1, "text": text}})
    at = position_of(text, "generateOrder(")
    at = {"line": at.line, "character": at.character}
    actions = raw.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": doc_uri}, "range": {"start": at, "end": at}, "context": {"diagnostics": []}},
    )["result"]
    by_title = {a["title"]: a for a in actions}
    action = by_title[f"Show chunk for {METHOD}"]
    assert action["kind"] == "acdp"
    assert action["command"]["command"] == "acdp.showChunk"
    result = raw.request("workspace/executeCommand", action["command"])["result"]
    assert result["chunk_id"] == expected_chunks[METHOD]["chunk_id"]
    assert result["symbol"] == METHOD


async def test_reindex_reports_the_same_chunks_as_acdp_index(client, shop):
    await indexed(client)
    summary = plain(await client.workspace_execute_command_async(types.ExecuteCommandParams(command="acdp.reindex")))
    cli = subprocess.run(
        [str(ACDP_BIN), "index", str(shop), "--format", "jsonl", "--no-cache"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert summary["folders"] == 1
    assert summary["errors"] == []
    assert summary["chunks"] == len(cli)
    await indexed(client, runs=2)
    tokens = [token for token, _ in progress_ends(client)]
    assert len(set(tokens)) == 2, "each run has its own progress token"


def edit(line: int, character: int, end_line: int, end_character: int, text: str):
    return types.TextDocumentContentChangePartial(
        range=types.Range(
            start=types.Position(line=line, character=character),
            end=types.Position(line=end_line, character=end_character),
        ),
        text=text,
    )


def apply(text: str, change) -> str:
    """Applies one incremental change (UTF-16 positions) the way an editor does."""
    lines = text.split("\n")

    def offset(pos):
        before = sum(len(l) + 1 for l in lines[: pos.line])
        line = lines[pos.line]
        units, chars = 0, 0
        while units < pos.character:
            units += len(line[chars].encode("utf-16-le")) // 2
            chars += 1
        return before + chars

    start, end = offset(change.range.start), offset(change.range.end)
    return text[:start] + change.text + text[end:]


async def test_a_burst_of_did_change_equals_a_fresh_parse(client, shop, tmp_path):
    doc_uri, text = open_document(client)
    method_line = position_of(text, "generateOrder(").line
    changes = [
        # a comment line with CJK and an emoji (surrogate pair) above the method
        edit(method_line - 1, 0, method_line - 1, 0, "    // 备注 🙂 burst\n"),
        # type a new method, one keystroke at a time, below the class header
        *[
            edit(method_line, i, method_line, i, ch)
            for i, ch in enumerate("    public int answer() { return 42; }\n")
        ],
        # delete the emoji line again, then rename a parameter in the method
        edit(method_line - 1, 0, method_line, 0, ""),
    ]
    final = text
    for version, change in enumerate(changes, start=2):
        final = apply(final, change)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=doc_uri, version=version),
                content_changes=[change],
            )
        )

    fresh = tmp_path / "fresh"
    (fresh / SERVICE).parent.mkdir(parents=True)
    (fresh / SERVICE).write_text(final, encoding="utf-8")
    out = subprocess.run(
        [str(ACDP_BIN), "index", str(fresh), "--format", "jsonl", "--no-cache"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    import json

    want = [json.loads(l) for l in out.splitlines()]
    assert any(c["symbol"].endswith(".answer()") for c in want), "the typed method is a chunk"
    lines = final.split("\n")
    for chunk in want:
        line = chunk["start_line"] - 1
        column = len(lines[line]) - len(lines[line].lstrip())
        got = await acdp_chunk(client, doc_uri, types.Position(line=line, character=column))
        assert got is not None, chunk["symbol"]
        # the innermost chunk at a type header's first line may be the header itself
        assert (got["chunk_id"], got["content_hash"]) == (chunk["chunk_id"], chunk["content_hash"]), chunk["symbol"]
        assert got["range"]["end"]["line"] == chunk["end_line"] - 1
        assert got["version"] == len(changes) + 1


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("textDocument/hover", {"textDocument": 5}),
        ("textDocument/hover", {"textDocument": {"uri": "file:///x.java"}}),
        ("acdp/chunk", {"uri": "file:///x.java"}),
        ("acdp/chunk", {"uri": 3, "position": {"line": 0, "character": 0}}),
        ("workspace/executeCommand", {"command": "acdp.showChunk", "arguments": [{"nope": 1}]}),
        ("workspace/executeCommand", {"command": "acdp.reindex", "arguments": [1]}),
    ],
)
def test_malformed_params_get_invalid_params_and_the_server_goes_on(raw, shop, method, params):
    answer = raw.request(method, params)
    assert answer.get("error", {}).get("code") == INVALID_PARAMS, answer
    text = (shop / SERVICE).read_text(encoding="utf-8")
    at = position_of(text, "generateOrder(")
    chunk = raw.request("acdp/chunk", {"uri": uri(shop), "position": {"line": at.line, "character": at.character}})
    assert "result" in chunk, chunk


async def test_unknown_command_is_invalid_params_naming_it(client):
    with pytest.raises(JsonRpcException) as error:
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command="acdp.noSuchThing"))
    assert error.value.code == INVALID_PARAMS
    assert "unknown command" in str(error.value) and "acdp.noSuchThing" in str(error.value)


async def test_chunks_changed_follows_did_open_and_did_change(client):
    doc_uri, text = open_document(client)
    opened = plain(await client.wait_for_notification("acdp/chunksChanged"))
    assert opened["uri"] == doc_uri
    assert opened["added"], "didOpen reports every chunk as added"
    line = position_of(text, "generateOrder(").line
    waiter = client.wait_for_notification("acdp/chunksChanged")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=doc_uri, version=2),
            content_changes=[edit(line - 1, 0, line - 1, 0, "\n")],
        )
    )
    changed = plain(await waiter)
    assert changed["version"] == 2
    assert changed["moved"], "inserting a line above moves the chunks below"


async def test_ask_without_a_model_says_so_and_cites_the_best_matching_chunks(client, expected_chunks):
    await indexed(client)
    result = plain(
        await client.protocol.send_request_async("acdp/ask", {"question": "What does OmsPortalOrderServiceImpl.generateOrder do with the OrderParam?"})
    )
    assert result["validated"] is False
    assert result["answer"].startswith("no model configured")
    citations = [plain(c) for c in result["citations"]]
    assert [c["chunk_id"] for c in citations] == list(result["retrieved"])
    want = expected_chunks[METHOD]
    cited = next((c for c in citations if c["chunk_id"] == want["chunk_id"]), None)
    assert cited is not None, (want["chunk_id"], result)
    assert cited["uri"] == uri(client.shop)
    assert plain(cited["range"])["start"]["line"] == want["start_line"] - 1


async def test_train_without_a_model_names_the_setting(client):
    await indexed(client)
    with pytest.raises(JsonRpcException) as error:
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command="acdp.train"))
    assert error.value.code == -32001
    assert "modelDir" in str(error.value)
