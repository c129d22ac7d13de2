"""Tests for lrrsa.data.download against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import logging
import re
import socket
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

from lrrsa.data import download as dl
from lrrsa.data.download import (
    DownloadError,
    download,
    file_md5,
    file_sha1,
    verify_file,
)

PAYLOAD = bytes((i * 7919 + (i >> 8)) % 256 for i in range(300_000))
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()
PAYLOAD_SHA1 = hashlib.sha1(PAYLOAD).hexdigest()
CHUNK = 16_384


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.payload`` with Range support, or misbehaves as ``server.mode`` says.

    Modes: ``normal``; ``cut`` (first request: send ``server.cut_after`` bytes of the
    body, then drop the connection); ``stall`` (first request: send that much, then
    nothing until the test ends); ``cut_always`` (like cut, on every request); ``corrupt`` (flip one byte); ``ignore_range``
    (always 200 with the whole file); ``statuses`` (``server.statuses`` is a list of
    status codes returned, one per request, before serving normally).
    """

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        server = self.server
        with server.lock:
            server.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            n_request = len(server.requests)
        body = server.payload
        if server.statuses:
            code = server.statuses.pop(0)
            self.send_response(code)
            for key, value in server.error_headers.get(code, {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if server.mode == "corrupt":
            body = bytearray(body)
            body[len(body) // 2] ^= 0xFF
            body = bytes(body)
        start = 0
        rng = self.headers.get("Range")
        if rng and server.mode != "ignore_range":
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if server.mode == "stall" and n_request == 1:
            self.wfile.write(part[: server.cut_after])
            self.wfile.flush()
            server.release.wait(5)  # hold the connection open, sending nothing
            return
        if (server.mode == "cut" and n_request == 1) or server.mode == "cut_always":
            self.wfile.write(part[: server.cut_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(part)


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.payload = PAYLOAD
    httpd.mode = "normal"
    httpd.cut_after = 100_000
    httpd.statuses = []
    httpd.error_headers = {}
    httpd.requests = []
    httpd.lock = threading.Lock()
    httpd.release = threading.Event()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/cifar-10-python.tar.gz"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def fetch(server, dest, **kwargs):
    kwargs.setdefault("backoff", 0.0)
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("chunk_size", CHUNK)
    return download(server.url, dest, **kwargs)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_normal_download_verifies_and_sends_browser_user_agent(server, tmp_path):
    dest = tmp_path / "sub" / "file.bin"
    out = fetch(server, dest, md5=PAYLOAD_MD5, size=len(PAYLOAD))
    assert out == dest
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest.parent) == ["file.bin"]
    assert len(server.requests) == 1
    request = server.requests[0]
    assert request["user-agent"].startswith("Mozilla/5.0")
    assert "python-urllib" not in request["user-agent"].lower()
    assert "range" not in request


def test_custom_user_agent_is_sent(server, tmp_path):
    fetch(server, tmp_path / "f", user_agent="lrrsa-test/1.0")
    assert server.requests[0]["user-agent"] == "lrrsa-test/1.0"


def test_cut_connection_is_resumed_with_range(server, tmp_path):
    server.mode = "cut"
    dest = tmp_path / "file.bin"
    fetch(server, dest, md5=PAYLOAD_MD5)
    assert hashlib.md5(dest.read_bytes()).hexdigest() == PAYLOAD_MD5
    assert len(server.requests) == 2
    assert "range" not in server.requests[0]
    assert server.requests[1]["range"] == f"bytes={server.cut_after}-"
    assert leftovers(tmp_path) == ["file.bin"]


def test_retry_count_resets_while_progress_is_made(server, tmp_path, monkeypatch):
    monkeypatch.setattr(dl.time, "sleep", lambda s: None)
    server.mode = "cut_always"
    server.cut_after = 40_000
    dest = tmp_path / "file.bin"
    fetch(server, dest, md5=PAYLOAD_MD5, retries=1)  # 8 cut connections, each brings bytes
    assert dest.read_bytes() == PAYLOAD
    assert [r.get("range") for r in server.requests] == [None] + [
        f"bytes={k * 40_000}-" for k in range(1, 8)]


def test_stalled_connection_times_out_and_resumes(server, tmp_path):
    server.mode = "stall"
    dest = tmp_path / "file.bin"
    fetch(server, dest, md5=PAYLOAD_MD5, timeout=0.3)
    assert dest.read_bytes() == PAYLOAD
    assert len(server.requests) == 2 and "range" not in server.requests[0]
    # Resumes where the bytes it kept end (a partly filled chunk may be dropped).
    offset = int(re.fullmatch(r"bytes=(\d+)-", server.requests[1]["range"]).group(1))
    assert server.cut_after - CHUNK < offset <= server.cut_after


def test_existing_part_is_resumed(server, tmp_path):
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD[:12_345])
    fetch(server, dest, md5=PAYLOAD_MD5, size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert [r.get("range") for r in server.requests] == ["bytes=12345-"]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.mode = "ignore_range"
    dest = tmp_path / "file.bin"
    # A wrong prefix: only a restart from zero can give the right md5.
    (tmp_path / "file.bin.part").write_bytes(b"\x00" * 5000)
    fetch(server, dest, md5=PAYLOAD_MD5)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[0]["range"] == "bytes=5000-"
    assert len(server.requests) == 1


def test_416_for_complete_part_finishes_without_body(server, tmp_path):
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD)
    fetch(server, dest, md5=PAYLOAD_MD5)  # no size: the server must be asked
    assert dest.read_bytes() == PAYLOAD
    assert [r.get("range") for r in server.requests] == [f"bytes={len(PAYLOAD)}-"]


def test_416_for_oversized_part_restarts(server, tmp_path):
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD + b"junk")
    fetch(server, dest, md5=PAYLOAD_MD5)
    assert dest.read_bytes() == PAYLOAD
    assert [r.get("range") for r in server.requests] == [f"bytes={len(PAYLOAD) + 4}-", None]


def test_complete_part_of_expected_size_needs_no_request(server, tmp_path):
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD)
    fetch(server, dest, md5=PAYLOAD_MD5, size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == []


def test_corrupt_part_of_expected_size_is_downloaded_again(server, tmp_path):
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(b"\x01" * len(PAYLOAD))
    fetch(server, dest, md5=PAYLOAD_MD5, size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert [r.get("range") for r in server.requests] == [None]


def test_md5_mismatch_raises_naming_url_file_and_digests(server, tmp_path):
    server.mode = "corrupt"
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError) as info:
        fetch(server, dest, md5=PAYLOAD_MD5)
    message = str(info.value)
    corrupt = bytearray(PAYLOAD)
    corrupt[len(corrupt) // 2] ^= 0xFF
    actual = hashlib.md5(corrupt).hexdigest()
    for part in (server.url, str(dest), PAYLOAD_MD5, actual, "md5"):
        assert part in message
    assert leftovers(tmp_path) == []


def test_size_mismatch_raises(server, tmp_path):
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError) as info:
        fetch(server, dest, size=len(PAYLOAD) + 1)
    message = str(info.value)
    assert str(dest) in message and server.url in message
    assert str(len(PAYLOAD) + 1) in message and str(len(PAYLOAD)) in message
    assert leftovers(tmp_path) == []


def test_existing_good_dest_makes_no_request(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(PAYLOAD)
    assert fetch(server, dest, md5=PAYLOAD_MD5, size=len(PAYLOAD)) == dest
    assert server.requests == []


def test_existing_bad_dest_raises_naming_it_without_request(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"not the payload")
    with pytest.raises(DownloadError, match=re.escape(str(dest))) as info:
        fetch(server, dest, md5=PAYLOAD_MD5)
    assert PAYLOAD_MD5 in str(info.value)
    assert hashlib.md5(b"not the payload").hexdigest() in str(info.value)
    assert server.requests == []
    assert dest.read_bytes() == b"not the payload"


def test_transient_5xx_is_retried_with_exponential_backoff(server, tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(dl.time, "sleep", sleeps.append)
    server.statuses = [503, 500, 502]
    dest = tmp_path / "file.bin"
    fetch(server, dest, md5=PAYLOAD_MD5, backoff=0.5)
    assert dest.read_bytes() == PAYLOAD
    assert len(server.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_retry_after_header_is_honoured(server, tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(dl.time, "sleep", sleeps.append)
    server.statuses = [429]
    server.error_headers = {429: {"Retry-After": "7"}}
    fetch(server, tmp_path / "f", backoff=0.5)
    assert sleeps == [7.0]


def test_gives_up_after_retries(server, tmp_path, monkeypatch):
    monkeypatch.setattr(dl.time, "sleep", lambda s: None)
    server.statuses = [503] * 10
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match="giving up") as info:
        fetch(server, dest, retries=2)
    assert server.url in str(info.value) and "503" in str(info.value)
    assert len(server.requests) == 3
    assert not dest.exists()


def test_client_error_is_not_retried(server, tmp_path):
    server.statuses = [404]
    with pytest.raises(DownloadError, match="404"):
        fetch(server, tmp_path / "f")
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_fails(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x"
    with pytest.raises(DownloadError, match="giving up"):
        download(url, tmp_path / "x", retries=1, backoff=0.0, timeout=2.0)


def test_progress_is_logged_and_reported(server, tmp_path, caplog):
    seen = []
    with caplog.at_level(logging.INFO, logger="lrrsa.data.download"):
        fetch(server, tmp_path / "f", log_interval=0.0,
              progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    messages = [r.getMessage() for r in caplog.records]
    assert any("MB/s" in m and "100.0%" in m for m in messages)


def test_file_md5_and_verify_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    assert file_md5(path) == PAYLOAD_MD5
    assert file_md5(path, chunk_size=1000) == PAYLOAD_MD5
    assert verify_file(path, md5=PAYLOAD_MD5.upper(), size=len(PAYLOAD)) == path
    with pytest.raises(DownloadError, match=f"{len(PAYLOAD) - 1} bytes"):
        verify_file(path, size=len(PAYLOAD) - 1)
    with pytest.raises(DownloadError, match=PAYLOAD_MD5):
        verify_file(path, md5="0" * 32)
    with pytest.raises(DownloadError, match="does not exist"):
        verify_file(tmp_path / "missing")


# ------------------------------------------------------------------------- SHA-1


def corrupted(payload: bytes) -> bytes:
    """What the server sends in ``corrupt`` mode."""
    body = bytearray(payload)
    body[len(body) // 2] ^= 0xFF
    return bytes(body)


def test_sha1_download_verifies(server, tmp_path):
    dest = tmp_path / "file.bin"
    assert fetch(server, dest, sha1=PAYLOAD_SHA1.upper(), size=len(PAYLOAD)) == dest
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(tmp_path) == ["file.bin"]


def test_sha1_mismatch_deletes_part_and_raises_naming_url_file_and_digests(server, tmp_path):
    server.mode = "corrupt"
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError) as info:
        fetch(server, dest, sha1=PAYLOAD_SHA1)
    message = str(info.value)
    actual = hashlib.sha1(corrupted(PAYLOAD)).hexdigest()
    for part in (server.url, str(dest), PAYLOAD_SHA1, actual, "sha1", "file.bin.part"):
        assert part in message
    assert leftovers(tmp_path) == []  # neither dest nor the .part


def test_md5_and_sha1_together_both_checked(server, tmp_path):
    dest = tmp_path / "file.bin"
    fetch(server, dest, md5=PAYLOAD_MD5, sha1=PAYLOAD_SHA1)
    assert dest.read_bytes() == PAYLOAD
    # right md5, wrong sha1: the sha1 still fails the download
    with pytest.raises(DownloadError, match="sha1 mismatch"):
        fetch(server, tmp_path / "other.bin", md5=PAYLOAD_MD5, sha1="0" * 40)
    assert leftovers(tmp_path) == ["file.bin"]


def test_resumed_download_sha1_covers_the_resumed_prefix(server, tmp_path):
    """A cut connection is resumed with Range; the sha1 checked is of the whole file."""
    server.mode = "cut"
    dest = tmp_path / "file.bin"
    fetch(server, dest, sha1=PAYLOAD_SHA1)
    assert dest.read_bytes() == PAYLOAD
    assert [r.get("range") for r in server.requests] == [None, f"bytes={server.cut_after}-"]


def test_existing_part_resumed_then_sha1_of_whole_file(server, tmp_path):
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD[:12_345])
    fetch(server, dest, sha1=PAYLOAD_SHA1)
    assert dest.read_bytes() == PAYLOAD
    assert [r.get("range") for r in server.requests] == ["bytes=12345-"]


def test_resumed_part_with_a_wrong_prefix_fails_sha1(server, tmp_path):
    """Bytes of the .part that were never requested still count: a wrong prefix
    (here zeros) followed by the right rest fails, and the .part is deleted."""
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(b"\x00" * 5000)
    expected_actual = hashlib.sha1(b"\x00" * 5000 + PAYLOAD[5000:]).hexdigest()
    with pytest.raises(DownloadError) as info:
        fetch(server, dest, sha1=PAYLOAD_SHA1)
    assert expected_actual in str(info.value) and PAYLOAD_SHA1 in str(info.value)
    assert [r.get("range") for r in server.requests] == ["bytes=5000-"]
    assert leftovers(tmp_path) == []


def test_complete_part_of_expected_size_verified_by_sha1_without_request(server, tmp_path):
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD)
    fetch(server, dest, sha1=PAYLOAD_SHA1, size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == []


def test_existing_dest_verified_by_sha1_without_request(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(PAYLOAD)
    assert fetch(server, dest, sha1=PAYLOAD_SHA1) == dest
    assert server.requests == []
    dest.write_bytes(b"not the payload")
    with pytest.raises(DownloadError, match=re.escape(str(dest))) as info:
        fetch(server, dest, sha1=PAYLOAD_SHA1)
    assert PAYLOAD_SHA1 in str(info.value)
    assert hashlib.sha1(b"not the payload").hexdigest() in str(info.value)
    assert server.requests == []
    assert dest.read_bytes() == b"not the payload"  # a bad dest is reported, not deleted


def test_malformed_sha1_is_refused_before_any_request(server, tmp_path):
    with pytest.raises(ValueError, match="40 hexadecimal"):
        fetch(server, tmp_path / "f", sha1=PAYLOAD_MD5)  # an md5 passed as sha1
    assert server.requests == []


def test_file_sha1_and_verify_file_sha1(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    assert file_sha1(path) == PAYLOAD_SHA1
    assert file_sha1(path, chunk_size=1000) == PAYLOAD_SHA1
    assert verify_file(path, sha1=PAYLOAD_SHA1.upper(), md5=PAYLOAD_MD5, size=len(PAYLOAD)) == path
    with pytest.raises(DownloadError) as info:
        verify_file(path, sha1="f" * 40)
    assert "sha1" in str(info.value) and "f" * 40 in str(info.value) and PAYLOAD_SHA1 in str(info.value)
    with pytest.raises(DownloadError, match=f"{len(PAYLOAD) + 1} bytes"):  # size before hashing
        verify_file(path, sha1="f" * 40, size=len(PAYLOAD) + 1)
