"""Downloading and extracting THINGS-fMRI and THINGS images, against a local HTTP server.

The archives are built by the tests in the real layouts from a small generated THINGS
dataset (pandas-written ResponseData tables, CSV metadata, JPEG images):
``betas_csv.zip`` with ``betas_csv/`` and a ``__MACOSX/`` folder, and an
``images_THINGS.zip`` whose members are ZipCrypto-encrypted (written here by a small
encoder and checked against Python's decrypter and, where installed, Info-ZIP unzip).
A ThreadingHTTPServer on 127.0.0.1 serves them, and cuts, corrupts or replaces them
with a web page on request.
"""

from __future__ import annotations

import copy
import hashlib
import http.server
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from lrrsa.data import archives
from lrrsa.data.archives import ArchiveError
from lrrsa.data.demo import write_things_dataset
from lrrsa.data.stimuli import read_stimulus_table, write_stimulus_table
from lrrsa.rdm_io import load_rdm
from lrrsa.rdms import write_roi_rdm

SUBJECTS = ("sub-01", "sub-02")
PASSWORD = "things4all"


# --------------------------------------------------------------- ZipCrypto writer


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


class _ZipCrypto:
    """The traditional PKWARE stream cipher (APPNOTE 6.1), encrypting side."""

    def __init__(self, password: bytes) -> None:
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for b in password:
            self._update(b)

    def _update(self, b: int) -> None:
        k0, k1, k2 = self.keys
        k0 = (k0 >> 8) ^ _TABLE[(k0 ^ b) & 0xFF]
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = (k2 >> 8) ^ _TABLE[(k2 ^ (k1 >> 24)) & 0xFF]
        self.keys = [k0, k1, k2]

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray(len(data))
        for i, p in enumerate(data):
            t = (self.keys[2] | 2) & 0xFFFF
            out[i] = p ^ (((t * (t ^ 1)) >> 8) & 0xFF)
            self._update(p)
        return bytes(out)


def write_encrypted_zip(path: Path, files: dict[str, bytes], password: str) -> None:
    """A zip of stored, ZipCrypto-encrypted members (what ``zip -P`` writes for JPEGs)."""
    out, central = bytearray(), bytearray()
    for name, data in files.items():
        crc = zlib.crc32(data) & 0xFFFFFFFF
        # Fixed header bytes: with random ones, a wrong password passes ZipCrypto's
        # one-byte check 1 time in 256 and the tests of it would be flaky.
        header = hashlib.sha256(name.encode()).digest()[:11]
        payload = _ZipCrypto(password.encode()).encrypt(header + bytes([crc >> 24]) + data)
        raw = name.encode()
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0x1, 0, 0, 0x21, crc, len(payload), len(data), len(raw), 0)
        out += raw + payload
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0x1, 0, 0, 0x21, crc, len(payload), len(data),
                               len(raw), 0, 0, 0, 0, 0, offset) + raw
    n = len(files)
    tail = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), len(out), 0)
    path.write_bytes(bytes(out + central + tail))


def test_encrypted_zip_writer_matches_independent_decrypters(tmp_path):
    files = {"object_images/dog/dog_01b.jpg": os.urandom(3000), "object_images/t-shirt/t-shirt_01b.jpg": b"x" * 10}
    path = tmp_path / "e.zip"
    write_encrypted_zip(path, files, PASSWORD)
    with zipfile.ZipFile(path) as zf:
        assert all(i.flag_bits & 0x1 for i in zf.infolist())
        for name, data in files.items():
            assert zf.read(name, pwd=PASSWORD.encode()) == data
        with pytest.raises(RuntimeError, match="[Bb]ad password"):
            zf.read("object_images/dog/dog_01b.jpg", pwd=b"wrong-password-x")
    if shutil.which("unzip"):
        got = subprocess.run(["unzip", "-P", PASSWORD, "-p", str(path), "object_images/dog/dog_01b.jpg"],
                             capture_output=True, check=True).stdout
        assert got == files["object_images/dog/dog_01b.jpg"]


# ------------------------------------------------------------------ the dataset


@pytest.fixture(scope="module")
def things(tmp_path_factory):
    """A tiny THINGS dataset and its two archives in the published layouts."""
    root = tmp_path_factory.mktemp("things")
    write_things_dataset(
        root / "data", n_concepts=8, n_categories=2, n_exemplars=2, n_test_images=3, n_test_repeats=4,
        subjects=SUBJECTS, voxels_per_roi={"V1": 20, "IT": 20, "lLOC": 8, "rLOC": 8}, n_other_voxels=10,
        image_size=32, seed=3,
    )
    betas = root / "data" / "betas_csv"
    images = root / "data" / "images"
    betas_zip = root / "betas_csv.zip"
    with zipfile.ZipFile(betas_zip, "w") as zf:  # stored, like the real 43 GB zip's HDF5 members
        zf.writestr("betas_csv/", b"")
        for path in sorted(betas.iterdir()):
            zf.write(path, f"betas_csv/{path.name}")
            zf.writestr(f"__MACOSX/betas_csv/._{path.name}", b"\x00\x05\x16\x07AppleDouble")
        # a decoy with a real member's name: only __MACOSX/ holds it, so it must be ignored
        zf.writestr("__MACOSX/betas_csv/sub-01_StimulusMetadata.csv", b"decoy")
        zf.writestr("betas_csv/README.txt", b"THINGS-fMRI single-trial responses")
    image_files = {f"object_images/{p.parent.name}/{p.name}": p.read_bytes()
                   for p in sorted((images / "object_images").glob("*/*.jpg"))}
    image_files["__MACOSX/object_images/._x.jpg"] = b"junk"
    images_zip = root / "images_THINGS.zip"
    write_encrypted_zip(images_zip, image_files, PASSWORD)
    return {"root": root, "betas": betas, "images": images, "betas_zip": betas_zip, "images_zip": images_zip,
            "image_files": image_files}


def table_of(things, tmp_path, rule="first_exemplar") -> Path:
    from lrrsa.data.stimuli import write_selected_stimuli

    out = tmp_path / "stimuli.tsv"
    write_selected_stimuli(things["betas"], things["images"], SUBJECTS, out, rule=rule)
    return out


def files_under(folder: Path) -> list[str]:
    """Files below a folder (without the timestamp Snakemake puts into directory outputs)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp")


# ------------------------------------------------------------- betas extraction


def test_extract_betas_takes_only_the_subjects_files(things, tmp_path):
    out = tmp_path / "betas_csv"
    archives.extract_things_betas(things["betas_zip"], out, "sub-02", kinds=["metadata"])
    assert files_under(out) == ["sub-02_StimulusMetadata.csv", "sub-02_VoxelMetadata.csv"]
    archives.extract_things_betas(things["betas_zip"], out, "sub-01")
    assert files_under(out) == sorted(
        [f"sub-01_{n}" for n in ("ResponseData.h5", "StimulusMetadata.csv", "VoxelMetadata.csv")]
        + ["sub-02_StimulusMetadata.csv", "sub-02_VoxelMetadata.csv"])
    for name in files_under(out):
        assert (out / name).read_bytes() == (things["betas"] / name).read_bytes(), name


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("evil", ["betas_csv/../../sub-01_StimulusMetadata.csv", "/tmp/sub-01_StimulusMetadata.csv"])
def test_members_leaving_the_target_folder_are_refused(tmp_path, evil):
    archive = make_zip(tmp_path / "evil.zip", {evil: b"x", "betas_csv/sub-01_VoxelMetadata.csv": b"v"})
    out = tmp_path / "deep" / "out"
    with pytest.raises(ArchiveError, match=r"evil\.zip: member .* (leaves the target folder|absolute).*refusing"):
        archives.extract_things_betas(archive, out, "sub-01", kinds=["metadata"])
    assert not out.exists() and not (tmp_path / "sub-01_StimulusMetadata.csv").exists()


def test_zip_that_is_not_the_betas_archive(tmp_path, things):
    archive = make_zip(tmp_path / "other.zip", {"data/readme.txt": b"x", "betas_csv/sub-01_VoxelMetadata.csv": b"v"})
    with pytest.raises(ArchiveError, match=r"other\.zip: not the expected THINGS-fMRI archive: no member "
                                           r"betas_csv/sub-01_StimulusMetadata\.csv \(it holds 2 file"):
        archives.extract_things_betas(archive, tmp_path / "out", "sub-01", kinds=["metadata"])
    with pytest.raises(ArchiveError, match=r"no member betas_csv/sub-03_ResponseData\.h5 .*subjects sub-01, sub-02"):
        archives.extract_things_betas(things["betas_zip"], tmp_path / "out", "sub-03", kinds=["response"])
    assert not (tmp_path / "out").exists()


def test_not_a_zip_and_truncated_zip(tmp_path, things):
    page = tmp_path / "betas_csv.zip"
    page.write_text("<!DOCTYPE html><html><body>Sign in to download</body></html>")
    with pytest.raises(ArchiveError, match=r"betas_csv\.zip: not a complete zip archive .*'<!DOCTYPE html>"):
        archives.extract_things_betas(page, tmp_path / "out", "sub-01")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(things["betas_zip"].read_bytes()[:-5000])
    with pytest.raises(ArchiveError, match=r"cut\.zip: not a complete zip archive.*truncated download"):
        archives.extract_things_betas(cut, tmp_path / "out", "sub-01")
    with pytest.raises(ArchiveError, match=r"missing\.zip: THINGS-fMRI betas_csv\.zip not found"):
        archives.extract_things_betas(tmp_path / "missing.zip", tmp_path / "out", "sub-01")
    assert not (tmp_path / "out").exists()


def test_corrupt_member_leaves_nothing(tmp_path, things):
    data = bytearray(things["betas_zip"].read_bytes())
    with zipfile.ZipFile(things["betas_zip"]) as zf:
        info = zf.getinfo("betas_csv/sub-01_ResponseData.h5")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)  # the member's stored bytes
    data[start + info.compress_size // 2] ^= 0xFF
    bad = tmp_path / "betas_csv.zip"
    bad.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(ArchiveError, match=r"betas_csv\.zip: member betas_csv/sub-01_ResponseData\.h5 is corrupt "
                                           r"\(Bad CRC-32.*delete it and download it again"):
        archives.extract_things_betas(bad, out, "sub-01", kinds=["response"])
    assert files_under(out) == []  # neither the file nor its temporary


# ------------------------------------------------------------ image extraction


def test_extract_images_takes_only_the_selected_stimuli(things, tmp_path):
    table_path = table_of(things, tmp_path)
    table = read_stimulus_table(table_path)
    out = tmp_path / "run" / "images"
    paths = archives.extract_stimulus_images(things["images_zip"], table_path, out, password=PASSWORD)
    expected = sorted(f"object_images/{c}/{s}" for s, c in zip(table["stimulus"], table["concept"]))
    assert files_under(out) == expected and len(expected) == 8
    assert len(things["image_files"]) > 2 * len(expected)  # most of the archive stays in it
    for rel in expected:
        assert (out / rel).read_bytes() == things["image_files"][rel]
    assert paths == [out / "object_images" / c / s for s, c in zip(table["stimulus"], table["concept"])]
    assert sorted(p.name for p in out.parent.iterdir()) == ["images"]  # no temporary folder left


def test_image_errors_name_the_archive_and_leave_no_folder(things, tmp_path):
    table_path = table_of(things, tmp_path)
    out = tmp_path / "images"
    with pytest.raises(ArchiveError, match=r"images_THINGS\.zip: wrong password for the encrypted member object_images/"):
        archives.extract_stimulus_images(things["images_zip"], table_path, out, password="guess")
    with pytest.raises(ArchiveError, match=r"is encrypted and no password was given"):
        archives.extract_stimulus_images(things["images_zip"], table_path, out)
    table = read_stimulus_table(table_path)
    extra = pd.DataFrame({"stimulus": ["ghost_01b.jpg", "ghost_02b.jpg"], "concept": ["ghost", "ghost"]})
    write_stimulus_table(tmp_path / "more.tsv", pd.concat([table, extra]))
    with pytest.raises(ArchiveError, match=r"images_THINGS\.zip: 2 of 10 selected stimuli \(from .*more\.tsv\) have no "
                                           r"image in the archive: 'object_images/ghost/ghost_01b\.jpg'"):
        archives.extract_stimulus_images(things["images_zip"], tmp_path / "more.tsv", out, password=PASSWORD)
    with pytest.raises(ArchiveError, match=r"betas_csv\.zip: not the expected THINGS images archive: no member "
                                           r"object_images/<concept>/<image>"):
        archives.extract_stimulus_images(things["betas_zip"], table_path, out, password=PASSWORD)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["more.tsv", "stimuli.tsv"]


# ------------------------------------------------------------------ HTTP server


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (path -> bytes) with Range support. ``server.modes[path]``:
    ``cut`` (the first request sends half the body, then drops the connection),
    ``corrupt`` (one byte flipped), ``html`` (a web page with status 200)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        with server.lock:
            server.requests.append((self.path, self.headers.get("Range"), self.headers.get("User-Agent")))
            n_before = sum(1 for p, _, _ in server.requests[:-1] if p == self.path)
        if self.path not in server.files:
            self.send_error(404)
            return
        body = server.files[self.path]
        mode = server.modes.get(self.path, "normal")
        if mode == "corrupt":
            body = bytearray(body)
            body[len(body) // 2] ^= 0xFF
            body = bytes(body)
        elif mode == "html":
            body = b"<!DOCTYPE html><html><body>Please log in</body></html>"
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and mode != "html":
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:]
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if mode == "cut" and n_before == 0:
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(part)


@pytest.fixture
def server(things):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.files = {"/betas_csv.zip": things["betas_zip"].read_bytes(), "/images_THINGS.zip": things["images_zip"].read_bytes()}
    httpd.modes = {}
    httpd.requests = []
    httpd.lock = threading.Lock()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_archive_resumes_verifies_and_rejects_web_pages(server, tmp_path):
    body = server.files["/betas_csv.zip"]
    server.modes["/betas_csv.zip"] = "cut"
    dest = tmp_path / "betas_csv.zip"
    archives.download_archive(f"{server.base}/betas_csv.zip", dest, md5=md5_of(body), size=len(body), backoff=0, timeout=5)
    assert dest.read_bytes() == body
    assert [r[1] for r in server.requests] == [None, f"bytes={len(body) // 2}-"]
    server.modes["/images_THINGS.zip"] = "html"
    page = tmp_path / "images_THINGS.zip"
    with pytest.raises(ArchiveError, match=r"images_THINGS\.zip: not a complete zip archive .*'<!DOCTYPE html>.*"
                                           r"\(downloaded from http://127\.0\.0\.1:\d+/images_THINGS\.zip; deleted\)"):
        archives.download_archive(f"{server.base}/images_THINGS.zip", page, what="THINGS images archive", backoff=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["betas_csv.zip"]


# ------------------------------------------------------------------- workflow


def run_snakemake(workdir: Path, *args: str, config: str = "config.yaml") -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / config), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def job_counts(result: subprocess.CompletedProcess) -> dict[str, int]:
    """The 'Job stats' table of a dry run."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts, in_table = {}, False
    for line in (result.stdout + "\n" + result.stderr).splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
        elif in_table and (m := re.match(r"^(\w+)\s+(\d+)$", line)):
            counts[m.group(1)] = int(m.group(2))
        elif in_table and not line.strip():
            break
    return counts


def nothing_to_do(result: subprocess.CompletedProcess) -> bool:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return "Nothing to be done" in result.stdout + result.stderr and job_counts(result) == {}


@pytest.mark.workflow
def test_paper_config_plans_downloads_and_every_job_with_no_data(tmp_path):
    """`snakemake -n` with config/config.yaml in an empty folder plans everything."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    shutil.copy(REPO / "config/config.yaml", tmp_path / "config.yaml")
    counts = job_counts(run_snakemake(tmp_path, "-n"))
    n_models = len(config["conditions"]) * len(config["seeds"])
    brain = config["brain_data"]
    n_subjects, n_rois = len(brain["subjects"]), len(brain["rois"])
    assert brain["source"] == "download"
    expected = {
        "download_cifar10": 1, "download_things_betas": 1, "download_things_images": 1,
        "extract_things_metadata": n_subjects, "extract_things_responses": n_subjects, "select_stimuli": 1,
        "extract_stimulus_images": 1, "count_roi_voxels": 1, "train_model": n_models,
        "extract_activations": n_models, "compute_brain_rdms": n_subjects, "average_brain_rdms": 1,
        "compute_pixel_rdm": 1, "score_model": n_models, "collect_scores": 1, "all": 1,
    }
    assert {k: counts.get(k) for k in expected} == expected
    assert counts["compute_model_rdms"] == n_models
    assert not any(rule not in counts for rule in ("summarise_scores", "plot_rsa_by_roi"))
    assert (tmp_path / "resources").exists() is False  # a dry run writes no data


@pytest.mark.workflow
def test_local_copies_replace_downloads(tmp_path, things):
    """betas_dir (an unzipped copy) and images_zip (a local zip): nothing is downloaded."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["brain_data"].update(betas_dir=str(things["betas"]), images_zip=str(things["images_zip"]), subjects=list(SUBJECTS))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    counts = job_counts(run_snakemake(tmp_path, "-n"))
    assert not {"download_things_betas", "download_things_images", "extract_things_metadata",
                "extract_things_responses"} & set(counts)
    assert counts["extract_stimulus_images"] == 1 and counts["select_stimuli"] == 1
    config["brain_data"].update(source="local", images_dir=str(things["images"]), images_zip=None)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    counts = job_counts(run_snakemake(tmp_path, "-n"))
    assert not {"download_things_betas", "download_things_images", "extract_things_metadata",
                "extract_things_responses", "extract_stimulus_images"} & set(counts)
    assert counts["select_stimuli"] == 1 and counts["compute_brain_rdms"] == 2


TINY = {
    "run": "dl",
    "device": "cpu",
    "training_data": {"source": "demo", "n_train": 100, "n_test": 50},
    "brain_data": {"type": "things_fmri", "source": "download", "subjects": list(SUBJECTS), "image_size": 32,
                   "rois": {"V1": ["V1"], "LOC": ["LOC"]}},
    "conditions": {"untrained": {"rule": "untrained"}},
    "seeds": [1],
    "stats": {"generalise_over": ["stimuli"]},
    "activations": {"layers": ["conv1"]},
    "rsa": {"layer_map": {"V1": "conv1", "LOC": "conv1"}},
}
TARGETS = ["results/dl/rdms/brain/V1/group.npz", "results/dl/rdms/brain/LOC/group.npz", "results/dl/rdms/pixel.npz",
           "results/dl/data/roi_voxels.tsv"]


@pytest.mark.workflow
def test_workflow_downloads_resumes_verifies_extracts_and_continues_after_a_fix(server, things, tmp_path):
    betas, images = server.files["/betas_csv.zip"], server.files["/images_THINGS.zip"]
    server.modes["/betas_csv.zip"] = "cut"  # the betas download is interrupted once and resumed
    config = copy.deepcopy(TINY)
    config["brain_data"]["download"] = {
        "betas_url": f"{server.base}/betas_csv.zip", "betas_md5": md5_of(betas), "betas_size": len(betas),
        "images_url": f"{server.base}/images_THINGS.zip", "images_md5": "0" * 32, "images_size": len(images),
        "images_password": PASSWORD, "retries": 2, "timeout": 5,
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))

    # 1. a wrong checksum for the images: the job stops, naming the file, URL and both digests
    first = run_snakemake(tmp_path, *TARGETS)
    assert first.returncode != 0
    log = (tmp_path / "resources/logs/things-images/download.log").read_text()
    assert re.search(rf"md5 mismatch for resources/things-images/images_THINGS\.zip \(downloaded from "
                     rf"{re.escape(server.base)}/images_THINGS\.zip\): expected 0{{32}}, got {md5_of(images)}", log)
    assert not list((tmp_path / "resources/things-images").glob("images_THINGS.zip*"))
    assert not (tmp_path / "results/dl/data/images").exists()

    # 2. with the checksum fixed, a rerun continues: the betas are not downloaded again
    config["brain_data"]["download"]["images_md5"] = md5_of(images)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    second = run_snakemake(tmp_path, *TARGETS)
    assert second.returncode == 0, second.stderr[-4000:]
    betas_requests = [r for r in server.requests if r[0] == "/betas_csv.zip"]
    assert [r[1] for r in betas_requests] == [None, f"bytes={len(betas) // 2}-"]
    assert all(r[2].startswith("Mozilla/5.0") for r in server.requests)
    assert (tmp_path / "resources/things-fmri/betas_csv.zip").read_bytes() == betas

    extracted = tmp_path / "resources/things-fmri/betas_csv"
    assert files_under(extracted) == sorted(f"{s}_{n}" for s in SUBJECTS
                                            for n in ("ResponseData.h5", "StimulusMetadata.csv", "VoxelMetadata.csv"))
    table = read_stimulus_table(tmp_path / "results/dl/data/stimuli.tsv")
    assert files_under(tmp_path / "results/dl/data/images") == sorted(
        f"object_images/{c}/{s}" for s, c in zip(table["stimulus"], table["concept"]))
    counts = pd.read_csv(tmp_path / "results/dl/data/roi_voxels.tsv", sep="\t")
    assert counts["n_voxels"].gt(0).all() and len(counts) == 4

    # the oracle: the same RDMs computed straight from the unzipped originals
    for roi, columns in TINY["brain_data"]["rois"].items():
        for subject in SUBJECTS:
            expected = tmp_path / "oracle.npz"
            write_roi_rdm(things["betas"], subject, columns, tmp_path / "results/dl/data/stimuli.tsv", expected,
                          zscore=True, min_nc_testset=None, metric="correlation")
            got, ids = load_rdm(tmp_path / f"results/dl/rdms/brain/{roi}/{subject}.npz")
            want, want_ids = load_rdm(expected)
            assert ids == want_ids == table["stimulus"].tolist()
            np.testing.assert_allclose(got, want, atol=1e-12)

    # nothing left to do, even with a mirror URL after the download (URLs are not rerun triggers)
    config["brain_data"]["download"]["betas_url"] = "http://mirror.invalid/betas_csv.zip"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert nothing_to_do(run_snakemake(tmp_path, "-n", *TARGETS))
    # the extracted folder as a local copy, the zip deleted: nothing reruns either
    config["brain_data"]["betas_dir"] = "resources/things-fmri/betas_csv"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "resources/things-fmri/betas_csv.zip").unlink()
    assert nothing_to_do(run_snakemake(tmp_path, "-n", *TARGETS))
