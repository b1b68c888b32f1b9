"""Request framing on a real server: a body limit that cannot be talked around."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from tests.processes import Server
from tests.test_cli import production_env


def _raw(server: Server, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
        return answer


def test_chunked_body_with_small_content_length_is_still_counted(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    server = Server(production_env(tmp_path, tmp_path / "t.db"), tmp_path, tmp_path / "log")
    servers.append(server)
    server.wait_ready(client)
    # Transfer-Encoding beats Content-Length (RFC 9112 §6.3): the server reads a chunked
    # body of 80 KiB, a valid operation, although the header claims 30 bytes.
    payload = b'{"query": "{ __typename }' + b" " * (80 * 1024) + b'"}'
    chunks = [payload[i : i + 4096] for i in range(0, len(payload), 4096)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    request = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    )

    status_line = _raw(server, request).split(b"\r\n", 1)[0]

    assert status_line.split()[1] in (b"400", b"413"), status_line
