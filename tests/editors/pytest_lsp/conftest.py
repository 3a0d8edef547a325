"""pytest-lsp fixtures: a real `acdp lsp` (ACDP_BIN, default target/debug/acdp) on a temp
copy of fixtures/shop, driven by pytest-lsp's client with VS Code's capabilities.

Helpers for acdp's custom messages live here so each test reads as the flow it checks.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

REPO = Path(__file__).resolve().parents[3]
ACDP_BIN = Path(os.environ.get("ACDP_BIN", REPO / "target" / "debug" / "acdp"))
SERVICE = "src/main/java/com/acme/shop/order/service/impl/OmsPortalOrderServiceImpl.java"
METHOD = "com.acme.shop.order.service.impl.OmsPortalOrderServiceImpl.generateOrder(OrderParam,Long)"

if not ACDP_BIN.is_file():
    sys.exit(f"{ACDP_BIN} does not exist: run `cargo build` or set ACDP_BIN")


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A fresh copy of fixtures/shop, without stored state."""
    copy = tmp_path / "shop"
    shutil.copytree(REPO / "fixtures" / "shop", copy, ignore=shutil.ignore_patterns(".acdp"))
    return copy


@pytest.fixture
def expected_chunks(shop: Path) -> dict[str, dict]:
    """`acdp index <shop> --format jsonl`, by symbol, for the service file."""
    out = subprocess.run(
        [str(ACDP_BIN), "index", str(shop), "--format", "jsonl", "--no-cache"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    chunks = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {c["symbol"]: c for c in chunks if c["path"] == SERVICE}


def make_client() -> LanguageClient:
    """pytest-lsp's client, plus `client/registerCapability` (VS Code's capabilities declare
    dynamic registration of file watchers, and acdp uses it); registrations are kept."""
    client = make_test_lsp_client()
    client.registrations = []

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams):
        client.registrations.extend(params.registrations)

    return client


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[str(ACDP_BIN), "lsp"], client_factory=make_client),
)
async def client(lsp_client: LanguageClient, shop: Path, tmp_path: Path):
    """An initialized session on `shop`; shut down cleanly after the test."""
    await open_session(lsp_client, shop, {
        "logFile": str(tmp_path / "lsp.log"),
        "sampleLanguage": "en",
        "llm": {"apiKeyEnv": "OPENAI_API_KEY"},
    })
    yield
    await shutdown(lsp_client)


async def open_session(client: LanguageClient, shop: Path, options: dict):
    """`initialize` + `initialized` on `shop` as VS Code would, with `options` as the
    initialization options; the result is kept as `client.initialize_result`."""
    client.shop = shop
    client.initialize_result = await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=shop.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=shop.as_uri(), name="shop")],
            initialization_options=options,
        )
    )


async def shutdown(client: LanguageClient):
    """shutdown, exit, then close the server's stdin as Neovim and VS Code do: acdp lsp only
    ends once its stdin closes (see test_lifecycle.py)."""
    import asyncio

    server = client._server
    if client.error is None and client.capabilities is not None:
        await client.shutdown_async(None)
        client.exit(None)
    if server and server.stdin:
        server.stdin.close()
    if server:
        try:
            await asyncio.wait_for(server.wait(), timeout=30)
        except asyncio.TimeoutError:
            server.kill()
            raise AssertionError("acdp lsp did not end after shutdown, exit and closing stdin")


def uri(shop: Path, path: str = SERVICE) -> str:
    return (shop / path).as_uri()


def open_document(client: LanguageClient, path: str = SERVICE) -> tuple[str, str]:
    """didOpen of a fixture file; returns (uri, text)."""
    text = (client.shop / path).read_text(encoding="utf-8")
    doc_uri = uri(client.shop, path)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=doc_uri, language_id="java", version=1, text=text)
        )
    )
    return doc_uri, text


def position_of(text: str, needle: str) -> types.Position:
    """Position (UTF-16 character) of the first `needle` in `text`."""
    offset = text.index(needle)
    line = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return types.Position(line=line, character=len(text[offset - column : offset].encode("utf-16-le")) // 2)


def progress_ends(client: LanguageClient) -> list[tuple[str, types.WorkDoneProgressEnd]]:
    return [
        (token, report)
        for token, reports in client.progress_reports.items()
        for report in reports
        if isinstance(report, types.WorkDoneProgressEnd)
    ]


async def wait_until(predicate, what: str, timeout: float = 60.0):
    """Polls `predicate` while the event loop runs the client; fails after `timeout` s."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def indexed(client: LanguageClient, runs: int = 1):
    await wait_until(lambda: len(progress_ends(client)) >= runs, f"{runs} index run(s) to end")


def plain(value):
    """pygls answers custom methods with namedtuples; tests compare plain JSON values."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


async def untyped_request(client: LanguageClient, method: str, params):
    """`method`, answered as plain JSON: pygls types a standard method's result by the method
    (a CodeAction read as a Command loses its command), so the result type pygls registered
    for this request is dropped before the answer arrives. `params` as pygls sends them (the
    lsprotocol type for a standard method)."""
    import asyncio
    from uuid import uuid4

    msg_id = str(uuid4())
    answer = client.protocol.send_request(method, params, msg_id=msg_id)
    client.protocol._result_types.pop(msg_id, None)
    return plain(await asyncio.wrap_future(answer))


UINTEGER_MAX = 2**31 - 1


def clamp_diagnostic_positions(client: LanguageClient) -> list[dict]:
    """Lets pygls read `textDocument/publishDiagnostics` whose positions exceed LSP's
    `uinteger` (0..2^31-1), which it otherwise drops as invalid: such a character is clamped
    to 2^31-1 ("end of line") and the position recorded in the returned list, so a test can
    assert on the diagnostics and, separately, on the server keeping to the spec."""
    clamped: list[dict] = []
    structure = client.protocol.structure_message

    def structure_message(data):
        if data.get("method") == "textDocument/publishDiagnostics" and "jsonrpc" in data:
            for diagnostic in data.get("params", {}).get("diagnostics", []):
                for end in ("start", "end"):
                    position = diagnostic["range"][end]
                    if position["character"] > UINTEGER_MAX:
                        clamped.append(dict(position))
                        position["character"] = UINTEGER_MAX
        return structure(data)

    client.protocol.structure_message = structure_message
    return clamped


async def acdp_chunk(client: LanguageClient, doc_uri: str, position: types.Position):
    return plain(
        await client.protocol.send_request_async(
            "acdp/chunk",
            {"uri": doc_uri, "position": {"line": position.line, "character": position.character}},
        )
    )


class RawSession:
    """A bare stdio JSON-RPC client for what pygls cannot send or read as is: params that do
    not match the method's type, and results whose union type pygls misreads (a CodeAction
    read as a Command). Server requests are answered with `null`."""

    def __init__(self, shop: Path):
        self.server = subprocess.Popen(
            [str(ACDP_BIN), "lsp", "--log-file", str(shop.parent / "raw-lsp.log")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.next_id = 0
        self.request("initialize", {"processId": None, "rootUri": shop.as_uri(), "capabilities": {}})
        self.notify("initialized", {})

    def send(self, message: dict):
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.server.stdin.flush()

    def notify(self, method: str, params):
        self.send({"method": method, "params": params})

    def receive(self) -> dict:
        length = None
        while True:
            line = self.server.stdout.readline()
            if not line:
                raise AssertionError("acdp lsp closed its stdout")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return json.loads(self.server.stdout.read(length))

    def request(self, method: str, params) -> dict:
        """The whole response message: `result` or `error`."""
        self.next_id += 1
        my_id = self.next_id
        self.send({"id": my_id, "method": method, "params": params})
        while True:
            message = self.receive()
            if "method" in message and "id" in message:
                self.send({"id": message["id"], "result": None})
            elif message.get("id") == my_id and "method" not in message:
                return message

    def close(self) -> int:
        self.request("shutdown", None)
        self.notify("exit", None)
        self.server.stdin.close()
        return self.server.wait(timeout=60)


@pytest.fixture
def raw(shop: Path):
    session = RawSession(shop)
    yield session
    assert session.close() == 0
