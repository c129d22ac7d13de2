"""Robust, resumable file downloads with verification (stdlib only).

Every data rule of the workflow fetches its inputs through :func:`download`:
CIFAR-10 (~170 MB) as well as the THINGS-fMRI zips (~40 GB). The download goes
to ``<dest>.part`` and is moved into place with :func:`os.replace` only after
its size, MD5 and/or SHA-1 verify, so ``dest`` either does not exist or is
complete. (Brain-Score's brainio files are registered with SHA-1 hashes, the
other sources with MD5.)
An interrupted download (network error, killed job) leaves the ``.part`` file,
and the next attempt -- in the same call after a back-off, or in a later run --
resumes it with an HTTP ``Range`` request.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import logging
import os
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "DEFAULT_USER_AGENT",
    "DownloadError",
    "download",
    "file_md5",
    "file_sha1",
    "verify_file",
]

log = logging.getLogger(__name__)

#: Some hosts (figshare among them) refuse urllib's default ``Python-urllib/x.y``.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)

#: HTTP status codes worth retrying besides 5xx.
_RETRYABLE_STATUS = frozenset({408, 425, 429})
#: Upper bound of one back-off sleep, in seconds.
_MAX_BACKOFF = 300.0
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)", re.IGNORECASE)

ProgressCallback = Callable[[int, "int | None"], None]


class DownloadError(RuntimeError):
    """A download failed for good, or a file failed verification."""


class _Transient(Exception):
    """A failure worth retrying (connection error, 5xx, truncated body)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: The hashes a download can be verified with, in the order they are checked.
_HASHES = ("md5", "sha1")


def _new_hash(name: str):
    return hashlib.new(name, usedforsecurity=False)


def _expected_hashes(md5: str | None, sha1: str | None) -> dict[str, str]:
    """{name: lower-case hex} of the hashes given; a malformed SHA-1 is a ValueError
    (MD5 is not checked for form, as before: a wrong one simply never matches)."""
    if sha1 is not None and not re.fullmatch(r"[0-9a-fA-F]{40}", sha1):
        raise ValueError(f"sha1 must be 40 hexadecimal digits; got {sha1!r}")
    return {name: value.lower() for name, value in (("md5", md5), ("sha1", sha1)) if value is not None}


def _file_digests(path: str | os.PathLike, names, chunk_size: int = 1 << 20) -> dict[str, str]:
    """{name: hex digest} of a file for each hash in ``names``, in one read."""
    digests = {name: _new_hash(name) for name in names}
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            for digest in digests.values():
                digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def file_md5(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 digest of a file, read in chunks of ``chunk_size`` bytes."""
    return _file_digests(path, ("md5",), chunk_size)["md5"]


def file_sha1(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-1 digest of a file (40 lower-case hex digits), read in chunks of
    ``chunk_size`` bytes; Brain-Score registers its brainio files by this hash."""
    return _file_digests(path, ("sha1",), chunk_size)["sha1"]


def _mismatch(what: str, path: Path, expected, actual, url: str | None) -> str:
    source = f" (downloaded from {url})" if url else ""
    return f"{what} mismatch for {path}{source}: expected {expected}, got {actual}"


def verify_file(
    path: str | os.PathLike,
    *,
    md5: str | None = None,
    size: int | None = None,
    sha1: str | None = None,
) -> Path:
    """Check a file's size, MD5 and/or SHA-1; return its path or raise :class:`DownloadError`.

    The size is checked first (cheap); the hashes only when the size is right, both
    computed in one read of the file (MD5 reported first when both differ). Hex
    digests compare case-insensitively. With none given, only existence is checked.
    Errors: :class:`DownloadError` naming the file, the expected and the actual
    value; ``ValueError`` for a ``sha1`` that is not 40 hex digits.
    """
    path = Path(path)
    expected = _expected_hashes(md5, sha1)
    if not path.is_file():
        raise DownloadError(f"{path} does not exist or is not a file")
    if size is not None:
        actual_size = path.stat().st_size
        if actual_size != size:
            raise DownloadError(_mismatch("size", path, f"{size} bytes", f"{actual_size} bytes", None))
    if expected:
        actual = _file_digests(path, expected)
        for name in _HASHES:
            if name in expected and actual[name] != expected[name]:
                raise DownloadError(_mismatch(name, path, expected[name], actual[name], None))
    return path


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes a-b/T`` -> (a, T); ``bytes */T`` -> (None, T); unknown parts None."""
    if not value:
        return None, None
    m = _CONTENT_RANGE.search(value)
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(3)) if m.group(3) != "*" else None
    return start, total


def _content_length(headers) -> int | None:
    value = headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


class _Progress:
    """Logs bytes, percent and speed at most every ``interval`` seconds."""

    def __init__(self, name: str, interval: float, callback: ProgressCallback | None) -> None:
        self.name = name
        self.interval = interval
        self.callback = callback
        self.last_time = time.monotonic()
        self.last_bytes: int | None = None

    def __call__(self, done: int, total: int | None, *, force: bool = False) -> None:
        if self.callback is not None:
            self.callback(done, total)
        now = time.monotonic()
        if self.last_bytes is None:  # first call of an attempt: start the clock
            self.last_time, self.last_bytes = now, done
            if not force:
                return
        elapsed = now - self.last_time
        if not force and elapsed < self.interval:
            return
        speed = (done - self.last_bytes) / elapsed / 1e6 if elapsed > 0 else float("nan")
        if total:
            log.info("%s: %s of %s (%.1f%%), %.2f MB/s",
                     self.name, _mb(done), _mb(total), 100.0 * done / total, speed)
        else:
            log.info("%s: %s, %.2f MB/s", self.name, _mb(done), speed)
        self.last_time, self.last_bytes = now, done

    def restart(self) -> None:
        self.last_bytes = None


class _Download:
    """State of one download: the ``.part`` file, its length and running hashes."""

    def __init__(self, url, dest, *, expected, size, timeout, user_agent, chunk_size, progress):
        self.url = url
        self.dest = dest
        self.part = dest.with_name(dest.name + ".part")
        self.expected = expected  # {hash name: lower-case hex}, e.g. {"md5": ..., "sha1": ...}
        self.size = size
        self.timeout = timeout
        self.user_agent = user_agent
        self.chunk_size = chunk_size
        self.progress = progress
        self.offset = 0
        self.digests: dict | None = None  # running hashes of the .part's bytes [0, offset)
        self.total: int | None = size

    # -- the .part file and its running hash ---------------------------------
    def reset(self) -> None:
        """Forget the partial download (truncate to zero)."""
        self.part.unlink(missing_ok=True)
        self.offset = 0
        self.digests = {name: _new_hash(name) for name in self.expected}

    def sync(self) -> None:
        """Make ``offset``/``digests`` describe the ``.part`` file on disk."""
        try:
            on_disk = self.part.stat().st_size
        except FileNotFoundError:
            on_disk = 0
        if on_disk == self.offset and self.digests is not None:
            return
        if on_disk == 0:
            self.reset()
            return
        if self.size is not None and on_disk > self.size:
            log.warning("%s is larger (%d bytes) than expected (%d bytes); starting afresh",
                        self.part, on_disk, self.size)
            self.reset()
            return
        self.offset = on_disk
        # Hash the resumed prefix once, then update as bytes arrive: the final
        # digests cover the whole file, not only the bytes of the last request.
        self.digests = {name: _new_hash(name) for name in self.expected}
        if self.digests:
            with open(self.part, "rb") as f:
                while chunk := f.read(self.chunk_size):
                    for digest in self.digests.values():
                        digest.update(chunk)

    def is_complete(self) -> bool:
        return self.size is not None and self.offset == self.size

    def check(self) -> None:
        """Verify the finished ``.part``; on mismatch delete it and raise."""
        problems = []
        if self.size is not None and self.offset != self.size:
            problems.append(_mismatch("size", self.dest, f"{self.size} bytes",
                                      f"{self.offset} bytes", self.url))
        if not problems:
            for name in _HASHES:
                if name in self.expected:
                    actual = self.digests[name].hexdigest()
                    if actual != self.expected[name]:
                        problems.append(_mismatch(name, self.dest, self.expected[name], actual, self.url))
        if problems:
            self.reset()
            raise DownloadError("; ".join(problems) + f"; deleted {self.part.name}")

    # -- one HTTP request ----------------------------------------------------
    def attempt(self) -> None:
        """Fetch the rest of the file; raise :class:`_Transient` to be retried."""
        self.sync()
        headers = {"User-Agent": self.user_agent, "Accept": "*/*",
                   "Accept-Encoding": "identity"}
        if self.offset > 0:
            headers["Range"] = f"bytes={self.offset}-"
        request = urllib.request.Request(self.url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                self._http_error(exc)
            return
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLCertVerificationError):
                raise DownloadError(f"{self.url}: {exc.reason}") from exc
            raise _Transient(f"{exc.reason}") from exc
        except (http.client.HTTPException, OSError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        with response:
            self._receive(response)

    def _http_error(self, exc: urllib.error.HTTPError) -> None:
        code = exc.code
        if code == 416 and self.offset > 0:
            _, total = _parse_content_range(exc.headers.get("Content-Range"))
            if total is not None and total == self.offset:
                log.info("%s: server says %s is already complete", self.url, self.part.name)
                self.total = total
                return
            log.warning("%s: range %d- not satisfiable (remote size %s); starting afresh",
                        self.url, self.offset, total if total is not None else "unknown")
            self.reset()
            raise _Transient("HTTP 416 Range Not Satisfiable")
        if code >= 500 or code in _RETRYABLE_STATUS:
            raise _Transient(f"HTTP {code} {exc.reason}",
                             retry_after=_parse_retry_after(exc.headers.get("Retry-After")))
        raise DownloadError(f"{self.url}: HTTP {code} {exc.reason}") from exc

    def _receive(self, response) -> None:
        status = response.status
        length = _content_length(response.headers)
        if status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != self.offset:
                log.warning("%s: asked for bytes %d-, got Content-Range %r; starting afresh",
                            self.url, self.offset, response.headers.get("Content-Range"))
                self.reset()
                raise _Transient("unexpected Content-Range")
        elif status == 200:
            if self.offset > 0:
                log.warning("%s: server ignored the Range request; restarting from zero",
                            self.url)
                self.reset()
            total = length
        else:
            raise DownloadError(f"{self.url}: unexpected HTTP status {status}")
        if total is not None:
            if self.size is not None and total != self.size:
                self.reset()
                raise DownloadError(_mismatch("size", self.dest, f"{self.size} bytes",
                                              f"{total} bytes (as reported by the server)",
                                              self.url))
            self.total = total

        received = 0
        self.progress.restart()
        self.progress(self.offset, self.total)
        with open(self.part, "ab" if self.offset > 0 else "wb") as f:
            try:
                while True:
                    try:
                        chunk = response.read(self.chunk_size)
                    except (http.client.HTTPException, OSError) as exc:
                        raise _Transient(f"{type(exc).__name__} after {received} bytes: {exc}") from exc
                    if not chunk:
                        break
                    f.write(chunk)
                    for digest in self.digests.values():
                        digest.update(chunk)
                    self.offset += len(chunk)
                    received += len(chunk)
                    self.progress(self.offset, self.total)
            finally:
                f.flush()
                os.fsync(f.fileno())
        if length is not None and received < length:
            raise _Transient(f"connection closed after {received} of {length} bytes")
        if self.total is not None and self.offset < self.total:
            raise _Transient(f"got {self.offset} of {self.total} bytes")
        self.progress(self.offset, self.total, force=True)


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    md5: str | None = None,
    size: int | None = None,
    sha1: str | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    user_agent: str = DEFAULT_USER_AGENT,
    chunk_size: int = 1 << 20,
    progress: ProgressCallback | None = None,
    log_interval: float = 5.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming, retrying and verifying; return ``dest``.

    - ``dest`` that already exists is verified against ``size``/``md5``/``sha1`` and
      returned without any request (a :class:`DownloadError` naming it if it fails).
    - Bytes go to ``dest.name + ".part"``; an existing ``.part`` is resumed with
      ``Range: bytes=N-``. A server that ignores Range (200) restarts from zero; a
      416 whose ``Content-Range: bytes */N`` matches the ``.part`` means complete.
    - Transient failures (connection errors, timeouts, 408/425/429/5xx, truncated
      bodies) are retried with back-off ``backoff * 2**k`` seconds (at most 300 s,
      at least a numeric ``Retry-After``). ``retries`` counts consecutive failed
      attempts that brought no new bytes: an attempt that got further resets it,
      so a long download over a flaky link finishes.
    - Other HTTP errors (404, 403, ...) raise at once.
    - After the body, ``size`` and the streamed ``md5`` and/or ``sha1`` (hex,
      case-insensitive; of the whole file, a resumed prefix included) are checked;
      on mismatch the ``.part`` is deleted and :class:`DownloadError` names the URL,
      the file, the expected and the actual value. Only then is the file moved into
      place with :func:`os.replace`.
    - A ``sha1`` that is not 40 hex digits is a ``ValueError`` before any request.
    - Progress (bytes, percent, MB/s) is logged at INFO at most every
      ``log_interval`` seconds; ``progress(bytes_done, total_or_None)`` is also
      called after every chunk when given.
    """
    dest = Path(dest)
    expected = _expected_hashes(md5, sha1)
    if dest.exists():
        verify_file(dest, md5=md5, size=size, sha1=sha1)
        log.info("%s already present and verified; not downloading", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    job = _Download(url, dest, expected=expected, size=size, timeout=timeout, user_agent=user_agent,
                    chunk_size=chunk_size,
                    progress=_Progress(dest.name, log_interval, progress))
    job.sync()
    if job.offset:
        log.info("resuming %s at %s", job.part, _mb(job.offset))
    else:
        log.info("downloading %s -> %s", url, dest)

    started = time.monotonic()
    if job.is_complete():
        # A .part of the expected size from an earlier run: if it verifies, no
        # request is needed; if not, it is stale or corrupt, so start afresh.
        try:
            job.check()
        except DownloadError as exc:
            log.warning("%s; downloading again", exc)
        else:
            os.replace(job.part, dest)
            return dest

    failures = 0
    high_water = job.offset
    while True:
        try:
            job.attempt()
            break
        except _Transient as exc:
            if job.offset > high_water:
                high_water, failures = job.offset, 0
            failures += 1
            if failures > retries:
                raise DownloadError(
                    f"{url}: giving up on {dest} after {failures} failed attempts "
                    f"without progress ({_mb(job.offset)} in {job.part.name}); last error: {exc}"
                ) from exc
            delay = min(backoff * 2 ** (failures - 1), _MAX_BACKOFF)
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, _MAX_BACKOFF))
            log.warning("%s: %s; retry %d of %d in %.1f s (resuming at %s)",
                        url, exc, failures, retries, delay, _mb(job.offset))
            time.sleep(delay)

    job.check()
    os.replace(job.part, dest)
    elapsed = time.monotonic() - started
    log.info("downloaded %s (%s) in %.1f s", dest, _mb(job.offset), elapsed)
    return dest
