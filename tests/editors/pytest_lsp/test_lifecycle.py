"""The process lifecycle as the specification states it, checked with a bare stdio client
(pytest-lsp's own teardown waits for the process before it closes the pipes)."""

import time

from conftest import RawSession


def shut_down(shop) -> RawSession:
    session = RawSession(shop)
    assert session.request("shutdown", None) == {"jsonrpc": "2.0", "id": 2, "result": None}
    session.notify("exit", None)
    return session


def test_exit_after_shutdown_then_eof_ends_with_status_0(shop):
    session = shut_down(shop)
    session.server.stdin.close()
    assert session.server.wait(timeout=60) == 0


def test_eof_without_shutdown_ends_with_status_1(shop):
    session = RawSession(shop)
    session.server.stdin.close()
    assert session.server.wait(timeout=60) == 1


def test_exit_ends_the_process_while_stdin_is_still_open(shop):
    session = shut_down(shop)
    try:
        # Not a timing assertion: the process never ends while stdin stays open.
        deadline = time.monotonic() + 10
        while session.server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.server.poll() == 0, "still running 10 s after `exit`"
    finally:
        session.server.stdin.close()
        session.server.wait(timeout=60)
