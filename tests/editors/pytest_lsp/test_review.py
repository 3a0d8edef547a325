"""The sample review over the protocol, as an editor drives it: the "Generate QA samples"
code action, `acdp/samples`, `acdp.reviewSample` (accept, reject), `acdp.editSample` with the
edit file opened and saved (diagnostics on it, "saved as edited"), `acdp.regenerateSample`
and `acdp.exportDataset`, whose dataset holds the reviewed samples in place of the generated
ones. The flow of tests/lsp.rs `reviewed_samples_replace_generated_ones_in_the_export`."""

import json
import subprocess
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import (
    ACDP_BIN,
    clamp_diagnostic_positions,
    indexed,
    make_client,
    open_session,
    open_document,
    plain,
    position_of,
    shutdown,
    untyped_request,
    wait_until,
)

REVIEWER = "pytest"
INVALID_PARAMS = -32602


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[str(ACDP_BIN), "lsp"], client_factory=make_client),
)
async def reviewer(lsp_client: LanguageClient, shop: Path, tmp_path: Path):
    """A session on `shop` with the `reviewer` setting, recorded with each verdict. Edit
    diagnostics whose positions pygls would drop are read clamped (`clamped` lists them)."""
    lsp_client.clamped = clamp_diagnostic_positions(lsp_client)
    await open_session(lsp_client, shop, {
        "logFile": str(tmp_path / "lsp.log"),
        "sampleLanguage": "en",
        "reviewer": REVIEWER,
    })
    yield
    await shutdown(lsp_client)


async def execute(client: LanguageClient, command: str, argument=None):
    arguments = None if argument is None else [argument]
    return plain(await client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=arguments)))


async def samples(client: LanguageClient, **filter) -> list[dict]:
    return plain(await client.protocol.send_request_async("acdp/samples", {"filter": filter}))


def ids(listed: list[dict]) -> list[str]:
    return [s["sample_id"] for s in listed]


def read_jsonl(path: Path) -> dict[str, dict]:
    """A samples file, by id."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {s["sample_id"]: s for s in map(json.loads, filter(None, lines))}


def stored(shop: Path, sample_id: str) -> dict:
    return read_jsonl(shop / ".acdp" / "samples.jsonl")[sample_id]


def messages_with(client: LanguageClient, text: str) -> list[str]:
    return [m.message for m in client.messages if text in m.message]


async def test_samples_is_empty_before_anything_is_generated(client):
    await indexed(client)
    assert await samples(client) == []
    assert await samples(client, review="pending", stale=False) == []


async def test_review_commands_are_advertised_and_refuse_unknown_samples(client):
    commands = set(client.initialize_result.capabilities.execute_command_provider.commands)
    assert {"acdp.reviewSample", "acdp.editSample", "acdp.regenerateSample", "acdp.exportDataset"} <= commands
    await indexed(client)
    for command, argument in [
        ("acdp.reviewSample", {"sample_id": "qa-000000000000", "verdict": "accepted"}),
        ("acdp.editSample", {"sample_id": "qa-000000000000"}),
        ("acdp.regenerateSample", {"sample_id": "qa-000000000000"}),
    ]:
        with pytest.raises(JsonRpcException) as error:
            await execute(client, command, argument)
        assert error.value.code == INVALID_PARAMS, command
        assert "no sample qa-000000000000" in str(error.value), command
    with pytest.raises(JsonRpcException) as error:
        await execute(client, "acdp.reviewSample", {"sample_id": "qa-000000000000", "verdict": "maybe"})
    assert error.value.code == INVALID_PARAMS


async def generate_for_cancel_order(client: LanguageClient):
    """Opens the service and runs the "Generate QA samples" code action on cancelOrder as an
    editor runs it: its command, through workspace/executeCommand. Returns the document's
    uri, the position of the method, its chunk id and the ids of the samples added."""
    doc_uri, text = open_document(client)
    await indexed(client)
    at = position_of(text, "cancelOrder(Long orderId")
    actions = await untyped_request(
        client,
        "textDocument/codeAction",
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=doc_uri),
            range=types.Range(start=at, end=at),
            context=types.CodeActionContext(diagnostics=[]),
        ),
    )
    (action,) = [a for a in actions if a["title"].startswith("Generate QA samples for ")]
    assert action["title"] == "Generate QA samples for OmsPortalOrderServiceImpl.cancelOrder(Long,Long)"
    assert action["kind"] == "acdp"
    assert action["command"]["command"] == "acdp.generateQa"
    chunk_id = action["command"]["arguments"][0]["chunk_id"]
    generated = await execute(client, "acdp.generateQa", action["command"]["arguments"][0])
    added = generated["added"]
    assert len(added) >= 3, generated
    await wait_until(lambda: messages_with(client, "sample(s) added to .acdp/samples.jsonl"), "the generation message")
    return doc_uri, at, chunk_id, added


async def test_reviewed_samples_replace_generated_ones_in_the_export(reviewer: LanguageClient, tmp_path: Path):
    client, shop = reviewer, reviewer.shop
    doc_uri, at, chunk_id, added = await generate_for_cancel_order(client)

    listed = await samples(client)
    assert ids(listed) == added, "acdp/samples lists the file in order"
    for sample in listed:
        assert "review" not in sample and sample["stale"] is False, sample
        assert chunk_id in [e["chunk_id"] for e in sample["evidence"]], sample["sample_id"]
        assert sample["task"] == "qa" and sample["question"] and sample["answer"] and sample["trace"]
    assert ids(await samples(client, chunk_id=chunk_id)) == added
    assert ids(await samples(client, symbol="com.acme.shop.order.service.impl.OmsPortalOrderServiceImpl")) == added
    assert await samples(client, task="design") == []
    assert await samples(client, language="zh") == []

    # What `acdp pipeline` makes without the editor's file: the three samples reviewed below
    # are among them, so the export has a generated version to replace or keep out.
    plain_out = tmp_path / "plain"
    subprocess.run(
        [str(ACDP_BIN), "pipeline", str(shop), "--no-editor-samples", "--out", str(plain_out)],
        check=True,
        capture_output=True,
    )
    generated_only = read_jsonl(plain_out / "samples.jsonl")
    in_both = [i for i in added if i in generated_only]
    assert len(in_both) >= 3, (added, sorted(generated_only))
    accepted, edited, rejected = in_both[:3]

    # Accept one: recorded with the time and the reviewer.
    answer = await execute(client, "acdp.reviewSample", {"sample_id": accepted, "verdict": "accepted"})
    assert answer["sample_id"] == accepted
    assert answer["review"]["verdict"] == "accepted"
    assert answer["review"]["reviewer"] == REVIEWER
    assert answer["review"]["at"].endswith("Z")
    assert stored(shop, accepted)["review"] == answer["review"]

    # Edit one: the edit file opens clean; a saved identifier the evidence does not hold is
    # an error on the answer's line and records nothing; the fixed text is recorded as edited.
    file = await execute(client, "acdp.editSample", {"sample_id": edited})
    edit_path = Path(file["path"])
    assert edit_path == shop / ".acdp" / "review" / f"{edited}.json"
    edit_uri = file["uri"]
    assert edit_uri == edit_path.as_uri()
    original = edit_path.read_text(encoding="utf-8")
    edit = json.loads(original)
    assert edit["sample_id"] == edited and edit["task"] == "qa" and "_help" in edit
    sample = stored(shop, edited)
    assert (edit["question"], edit["answer"]) == (sample["question"], sample["answer"])
    assert edit["trace"] == sample["trace"]
    assert edit["evidence"] == [e["chunk_id"] for e in sample["evidence"]]
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=edit_uri, language_id="json", version=1, text=original)
        )
    )
    await wait_until(lambda: edit_uri in client.diagnostics, "diagnostics on the opened edit file")
    assert list(client.diagnostics[edit_uri]) == []

    old_answer = edit["answer"]
    quoted = json.dumps(old_answer, ensure_ascii=False)
    assert quoted in original
    lines = original.splitlines()
    answer_line = next(i for i, l in enumerate(lines) if l.startswith('  "answer":'))
    question_line = next(i for i, l in enumerate(lines) if l.startswith('  "question":'))

    async def save(new_text: str) -> list[types.Diagnostic]:
        """Writes the file and sends didSave without text, as acdp asks (includeText false):
        the server reads the file. Returns the diagnostics published for it."""
        edit_path.write_text(new_text, encoding="utf-8")
        client.diagnostics.pop(edit_uri, None)
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=edit_uri))
        )
        await wait_until(lambda: edit_uri in client.diagnostics, "diagnostics on the saved edit file")
        return list(client.diagnostics[edit_uri])

    def with_answer(answer: str) -> str:
        return original.replace(quoted, json.dumps(answer, ensure_ascii=False), 1)

    (diagnostic, *_) = await save(with_answer(f"{old_answer} It calls `frobnicateOrder` first."))
    assert diagnostic.code == "identifiers_grounded", diagnostic
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.source == "acdp"
    assert diagnostic.range.start.line == answer_line, (diagnostic.range, answer_line)
    assert "frobnicateOrder" in diagnostic.message
    assert "review" not in stored(shop, edited), "a failed edit was recorded"
    assert not messages_with(client, "saved as edited")

    fixed = f"Reviewed: {old_answer}"
    assert await save(with_answer(fixed)) == []
    await wait_until(
        lambda: messages_with(client, f"{edited} saved as edited in .acdp/samples.jsonl"), "the 'saved as edited' message"
    )
    sample = stored(shop, edited)
    assert sample["review"]["verdict"] == "edited" and sample["review"]["reviewer"] == REVIEWER, sample["review"]
    assert sample["answer"] == fixed

    # The question says which sample it is: changing it is refused, on its line.
    renamed = with_answer(fixed).replace(json.dumps(edit["question"], ensure_ascii=False), '"Something else entirely?"', 1)
    (refused, *_) = await save(renamed)
    assert refused.code == "edit_shape" and refused.range.start.line == question_line, refused
    # Broken JSON is refused too; the recorded edit stays.
    (broken, *_) = await save(original[: len(original) // 2])
    assert broken.code == "edit_shape" and "not a sample edit" in broken.message, broken
    assert stored(shop, edited)["answer"] == fixed

    # Reject one; the review filters.
    answer = await execute(client, "acdp.reviewSample", {"sample_id": rejected, "verdict": "rejected"})
    assert answer["review"]["verdict"] == "rejected" and answer["review"]["reviewer"] == REVIEWER
    assert ids(await samples(client, review="rejected")) == [rejected]
    assert ids(await samples(client, review="accepted")) == [accepted]
    assert ids(await samples(client, review="edited")) == [edited]
    pending = ids(await samples(client, review="pending"))
    assert len(pending) == len(added) - 3 and rejected not in pending
    assert (await samples(client, review="rejected"))[0]["stale"] is False

    # The export: the accepted and edited samples in place of their generated versions, the
    # rejected one out although the generator makes it on every run; counts in stats.
    summary = await execute(client, "acdp.exportDataset")
    out = shop / ".acdp" / "dataset"
    assert Path(summary["out"]) == out and summary["samples"] > 0, summary
    dataset = read_jsonl(out / "samples.jsonl")
    assert dataset[accepted]["review"]["verdict"] == "accepted"
    assert dataset[edited]["review"]["verdict"] == "edited"
    assert dataset[edited]["answer"] == fixed
    assert rejected not in dataset, "the rejected sample was exported"
    for sample_id, sample in generated_only.items():
        if sample_id not in (accepted, edited, rejected):
            assert dataset.get(sample_id) == sample, f"{sample_id} changed or left out"
    assert set(dataset) - set(generated_only) <= set(added), "the rest are the editor's samples"
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert {k: stats["review"][k] for k in ("accepted", "edited", "rejected", "replaced_generated", "rejected_generated")} == {
        "accepted": 1,
        "edited": 1,
        "rejected": 1,
        "replaced_generated": 2,
        "rejected_generated": 1,
    }, stats["review"]
    assert stats["by_review"] == {"accepted": 1, "edited": 1}
    stats_md = (out / "stats.md").read_text(encoding="utf-8")
    assert "## Review" in stats_md and "1 accepted, 1 edited, 1 rejected" in stats_md

    # Generating again does not bring the rejected sample back as pending.
    again = await execute(client, "acdp.generateQa", {"chunk_id": chunk_id})
    assert again["added"] == [], again
    assert stored(shop, rejected)["review"]["verdict"] == "rejected"

    # Regenerating the accepted sample puts the generator's version back, not reviewed.
    regenerated = await execute(client, "acdp.regenerateSample", {"sample_id": accepted})
    assert regenerated["sample_id"] == accepted and "review" not in regenerated, regenerated
    assert "review" not in stored(shop, accepted)
    await wait_until(lambda: messages_with(client, f"{accepted} regenerated from"), "the regeneration message")

    # An unsaved edit of the method's code marks every sample citing it stale; regenerating
    # from the unsaved code is refused until the file is saved.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=doc_uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text="/* changed */ ")
            ],
        )
    )
    stale = await samples(client, stale=True)
    assert sorted(ids(stale)) == sorted(added), stale
    assert stale[0]["stale_chunks"] == [chunk_id]
    assert await samples(client, stale=False) == []
    with pytest.raises(JsonRpcException) as error:
        await execute(client, "acdp.regenerateSample", {"sample_id": accepted})
    assert error.value.code == INVALID_PARAMS and "has unsaved changes" in str(error.value)


async def test_edit_diagnostics_keep_positions_within_lsp_uinteger(reviewer: LanguageClient):
    client = reviewer
    _, _, _, added = await generate_for_cancel_order(client)
    file = await execute(client, "acdp.editSample", {"sample_id": added[0]})
    edit_path, edit_uri = Path(file["path"]), file["uri"]
    original = edit_path.read_text(encoding="utf-8")
    answer = json.loads(original)["answer"]
    edit_path.write_text(
        original.replace(json.dumps(answer, ensure_ascii=False), json.dumps(answer + " `frobnicateOrder`."), 1),
        encoding="utf-8",
    )
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=edit_uri)))
    await wait_until(lambda: client.diagnostics.get(edit_uri), "the edit's diagnostics")
    assert client.clamped == [], f"positions beyond 2^31-1: {client.clamped}"
