"""Tests of lrrsa.data.brainio_catalog: the published brainio files and their fetching.

The catalog is checked against the table of DESIGN.md section 2, restated here.
Fetching runs against a local HTTP server (no internet): small fake files whose
SHA-1 is patched into a test catalog entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import re
import socket
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from lrrsa.data import brainio as bio
from lrrsa.data import brainio_catalog as cat
from lrrsa.data.download import DownloadError

S3 = "https://brainscore-storage.s3.amazonaws.com"

#: DESIGN.md section 2, "Macaque recordings in Brain-Score's brainio format".
DESIGN_TABLE = {
    "MajajHong2015.public": [
        ("assy_dicarlo_MajajHong2015_public.nc", "brainio-brainscore", "null", "13d28ca0ce88ee550b54db3004374ae19096e9b9"),
        ("stimulus_hvm-public.csv", "brainio-brainscore", "null", "5ca7a3da00d8e9c694a9cd725df5ba0ad6d735af"),
        ("stimulus_hvm-public.zip", "brainio-brainscore", "null", "8aa44e038d7b551efa8077467622f9d48d72e473"),
    ],
    "FreemanZiemba2013.public": [
        ("assy_movshon_FreemanZiemba2013_public.nc", "brainio-brainscore", "W2vx7jdh9utZdVumHHarXa4L1zOrA8Fd",
         "761c08f796db4e342555cdb60eef23a4f19ead43"),
        ("stimulus_FreemanZiemba2013_aperture-public.csv", "brainio-brainscore", "null",
         "194c9b301a4e3e9cff02481d4c19b39331d52660"),
        ("stimulus_FreemanZiemba2013_aperture-public.zip", "brainio-brainscore", "null",
         "3a6fec1fc28c212882d6833e267ea8654d289611"),
    ],
    "Papale2025": [
        ("assy_THINGS_TVSD_train_Assembly.nc", "brainscore-vision/benchmarks/Papale2025",
         "q3sE0RZ5Fuq0C6vTVIiF48AsvG40.b7l", "97e3e9ed2280441a30fa5c33e8537db1b45a9da8"),
        ("assy_THINGS_TVSD_test_Assembly.nc", "brainscore-vision/benchmarks/Papale2025",
         "XK0CVCAzfHNOrKgmNrLqFfwvs_gSWKb.", "685025f67e90006e775ac153e8e0007e35b62bbc"),
    ],
}


# ----------------------------------------------------------------------- catalog


def test_catalog_files_are_exactly_the_design_table():
    assert set(cat.DATASET_NAMES) == set(DESIGN_TABLE)
    for name, rows in DESIGN_TABLE.items():
        dataset = cat.brainio_dataset(name)
        got = [(f.file_name, f.folder, f.version_id, f.sha1) for f in dataset.files]
        assert got == rows, name
        assert all(f.bucket == "brainscore-storage" for f in dataset.files)


def test_urls_have_the_s3_form_and_keep_version_null():
    mh = cat.brainio_dataset("MajajHong2015.public")
    assert mh.file("assembly").url() == f"{S3}/brainio-brainscore/assy_dicarlo_MajajHong2015_public.nc?versionId=null"
    fz = cat.brainio_dataset("FreemanZiemba2013.public").file("assembly")
    assert fz.url() == f"{S3}/brainio-brainscore/assy_movshon_FreemanZiemba2013_public.nc?versionId=W2vx7jdh9utZdVumHHarXa4L1zOrA8Fd"
    test = cat.brainio_dataset("Papale2025").file("assembly_test")
    assert test.url() == (f"{S3}/brainscore-vision/benchmarks/Papale2025/assy_THINGS_TVSD_test_Assembly.nc"
                          "?versionId=XK0CVCAzfHNOrKgmNrLqFfwvs_gSWKb.")
    assert test.url("http://mirror.example/x/") == ("http://mirror.example/x/brainscore-vision/benchmarks/Papale2025/"
                                                    "assy_THINGS_TVSD_test_Assembly.nc?versionId=XK0CVCAzfHNOrKgmNrLqFfwvs_gSWKb.")


def test_file_names_follow_brainio_naming():
    """prefix + identifier with '.' replaced by '_' (assy_ for .nc, stimulus_ for .csv/.zip)."""
    identifiers = {"MajajHong2015.public": ("dicarlo.MajajHong2015.public", "hvm-public"),
                   "FreemanZiemba2013.public": ("movshon.FreemanZiemba2013.public", "FreemanZiemba2013.aperture-public")}
    for name, (assembly, stimuli) in identifiers.items():
        d = cat.brainio_dataset(name)
        assert d.file("assembly").file_name == "assy_" + assembly.replace(".", "_") + ".nc"
        for ext in ("csv", "zip"):
            assert d.file(f"stimulus_{ext}").file_name == "stimulus_" + stimuli.replace(".", "_") + f".{ext}"


def test_preprocessing_as_published():
    mh, fz, pp = (cat.brainio_dataset(n) for n in ("MajajHong2015.public", "FreemanZiemba2013.public", "Papale2025"))
    assert (mh.time_window, fz.time_window, pp.time_window) == ((70.0, 170.0), (50.0, 200.0), None)
    assert (mh.regions, fz.regions, pp.regions) == (("V4", "IT"), ("V1", "V2"), ("V1", "V4", "IT"))
    assert pp.rois == {"V1": "V1", "V4": "V4", "IT": "IT"}
    assert (mh.animal_coord, fz.animal_coord, pp.animal_coord) == ("animal", None, "subject")
    assert all(d.average_repetitions for d in (mh, fz, pp))
    assert (mh.n_repetitions, fz.n_repetitions, pp.n_repetitions) == (50, 20, 30)
    assert (mh.reliability_threshold, fz.reliability_threshold, pp.reliability_threshold) == (None, None, 0.3)
    assert pp.reliability_coord == "reliability"
    assert (mh.stimuli_public, fz.stimuli_public, pp.stimuli_public) == (True, True, False)
    assert "aardvark_01b" in pp.stimulus_note and "THINGS" in pp.stimulus_note
    assert pp.roles == ("assembly_train", "assembly_test")
    for d in (mh, fz, pp):
        assert d.ceiling == "internal_consistency"
        assert d.preprocessing_source and all("brainscore_vision/" in s for s in d.preprocessing_source)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pp.reliability_threshold = 0.5


def test_time_windows_select_the_published_bins(tmp_path):
    """Each catalog window, given to window_bins, keeps the bins Brain-Score keeps."""
    mh, fz, pp = (cat.brainio_dataset(n) for n in ("MajajHong2015.public", "FreemanZiemba2013.public", "Papale2025"))
    pres = {"stimulus_id": ["a", "b"]}
    fz_path = bio.write_assembly(tmp_path / "fz.nc", np.zeros((2, 300, 2)), pres, {"neuroid_id": [1, 2]},
                                 time_bins=[(t, t + 1) for t in range(300)], dims=("neuroid", "time_bin", "presentation"))
    bins = bio.window_bins(bio.assembly_info(fz_path), fz.time_window)
    assert bins.tolist() == list(range(50, 200))  # (t, t + 1) for t in range(50, 200)
    mh_path = bio.write_assembly(tmp_path / "mh.nc", np.zeros((2, 2, 1)), pres, {"neuroid_id": [1, 2]},
                                 time_bins=[(70, 170)], dims=("neuroid", "presentation", "time_bin"))
    assert bio.window_bins(bio.assembly_info(mh_path), mh.time_window).tolist() == [0]
    pp_path = bio.write_assembly(tmp_path / "pp.nc", np.zeros((2, 2, 1)), pres, {"neuroid_id": [0, 0]},
                                 time_bins=[(70, 170)])
    assert bio.window_bins(bio.assembly_info(pp_path), pp.time_window).tolist() == [0]


def test_unknown_dataset_lists_known_names():
    with pytest.raises(ValueError) as info:
        cat.brainio_dataset("MajajHong2015")
    for name in cat.DATASET_NAMES:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="roles: assembly_train, assembly_test"):
        cat.brainio_dataset("Papale2025").file("stimulus_zip")


def test_catalog_entries_validate_their_fields():
    with pytest.raises(ValueError, match="40 lower-case hex"):
        cat.BrainioFile("assembly", "a.nc", "f", "null", "ABC")
    with pytest.raises(ValueError, match="versionId"):
        cat.BrainioFile("assembly", "a.nc", "f", "", "0" * 40)
    with pytest.raises(ValueError, match="plain name"):
        cat.BrainioFile("assembly", "x/a.nc", "f", "null", "0" * 40)
    f = cat.BrainioFile("assembly", "a.nc", "f", "null", "0" * 40)
    with pytest.raises(ValueError, match="roles repeat"):
        dataclasses.replace(cat.brainio_dataset("Papale2025"), files=(f, dataclasses.replace(f, file_name="b.nc")))


# ------------------------------------------------------------------------ fetching


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` ({url path: bytes}) with Range support; the query is
    recorded and otherwise ignored. ``server.cut``: {path: n} sends only n bytes of
    the first response for that path, then drops the connection."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        url = urllib.parse.urlsplit(self.path)
        with server.lock:
            server.requests.append({"path": url.path, "query": urllib.parse.parse_qs(url.query),
                                    "range": self.headers.get("Range")})
        body = server.files.get(url.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        if rng := self.headers.get("Range"):
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:]
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if (n := server.cut.pop(url.path, None)) is not None:
            self.wfile.write(part[:n])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(part)


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.files, httpd.cut, httpd.requests = {}, {}, []
    httpd.lock = threading.Lock()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


BODIES = {
    "assy_fake_train.nc": bytes(range(256)) * 300,
    "assy_fake_test.nc": b"test assembly " * 5000,
}
FOLDER = "brainscore-vision/benchmarks/Fake"


@pytest.fixture
def fake(server, monkeypatch):
    """A catalog entry 'Fake2025' (Papale2025 with two small files of known sha1), served."""
    files = tuple(cat.BrainioFile(role, name, FOLDER, version, hashlib.sha1(BODIES[name]).hexdigest())
                  for role, name, version in (("assembly_train", "assy_fake_train.nc", "v1.train"),
                                              ("assembly_test", "assy_fake_test.nc", "null")))
    dataset = dataclasses.replace(cat.brainio_dataset("Papale2025"), name="Fake2025", files=files)
    monkeypatch.setitem(cat._CATALOG, "Fake2025", dataset)
    for name, body in BODIES.items():
        server.files[f"/{FOLDER}/{name}"] = body
    return dataset


def fetch(server, dest, **kwargs):
    kwargs.setdefault("backoff", 0.0)
    kwargs.setdefault("timeout", 5.0)
    return cat.fetch_brainio_dataset("Fake2025", dest, base_url=server.base, **kwargs)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_fetch_downloads_every_file_with_its_version(server, fake, tmp_path):
    out = fetch(server, tmp_path / "brainio")
    assert out == {"assembly_train": tmp_path / "brainio" / "assy_fake_train.nc",
                   "assembly_test": tmp_path / "brainio" / "assy_fake_test.nc"}
    for path in out.values():
        assert path.read_bytes() == BODIES[path.name]
    assert names(tmp_path / "brainio") == ["assy_fake_test.nc", "assy_fake_train.nc"]  # no .part left
    assert [(r["path"], r["query"]) for r in server.requests] == [
        (f"/{FOLDER}/assy_fake_train.nc", {"versionId": ["v1.train"]}),
        (f"/{FOLDER}/assy_fake_test.nc", {"versionId": ["null"]}),
    ]
    # a second call verifies what is there and asks nothing
    assert fetch(server, tmp_path / "brainio") == out
    assert len(server.requests) == 2


def test_fetch_roles_subset_and_errors(server, fake, tmp_path):
    out = fetch(server, tmp_path, roles=["assembly_test"])
    assert list(out) == ["assembly_test"] and names(tmp_path) == ["assy_fake_test.nc"]
    with pytest.raises(ValueError, match="no file with role 'stimulus_csv'"):
        fetch(server, tmp_path, roles=["stimulus_csv"])
    with pytest.raises(ValueError, match="unknown brainio dataset 'Nope'.*Papale2025"):
        cat.fetch_brainio_dataset("Nope", tmp_path)


def test_fetch_accepts_a_dataset_object(server, fake, tmp_path):
    out = cat.fetch_brainio_dataset(fake, tmp_path, base_url=server.base + "/", backoff=0.0, timeout=5.0)
    assert sorted(p.name for p in out.values()) == sorted(BODIES)


def test_fetch_sha1_mismatch_leaves_nothing(server, fake, tmp_path):
    server.files[f"/{FOLDER}/assy_fake_test.nc"] = b"something else" * 100
    with pytest.raises(DownloadError) as info:
        fetch(server, tmp_path, roles=["assembly_test"])
    message = str(info.value)
    for part in ("sha1", fake.file("assembly_test").sha1, hashlib.sha1(b"something else" * 100).hexdigest(),
                 str(tmp_path / "assy_fake_test.nc"), server.base):
        assert part in message
    assert names(tmp_path) == []


def test_fetch_resumes_a_cut_download_and_checks_the_whole_file(server, fake, tmp_path):
    path = f"/{FOLDER}/assy_fake_train.nc"
    server.cut[path] = 10_000
    out = fetch(server, tmp_path, roles=["assembly_train"])
    assert out["assembly_train"].read_bytes() == BODIES["assy_fake_train.nc"]
    assert [r["range"] for r in server.requests] == [None, "bytes=10000-"]
    # a .part from an earlier run is resumed too
    (tmp_path / "assy_fake_test.nc.part").write_bytes(BODIES["assy_fake_test.nc"][:777])
    fetch(server, tmp_path, roles=["assembly_test"])
    assert (tmp_path / "assy_fake_test.nc").read_bytes() == BODIES["assy_fake_test.nc"]
    assert server.requests[-1]["range"] == "bytes=777-"


def test_existing_wrong_file_is_an_error_without_request(server, fake, tmp_path):
    (tmp_path / "assy_fake_test.nc").write_bytes(b"stale")
    with pytest.raises(DownloadError, match=re.escape(str(tmp_path / "assy_fake_test.nc"))):
        fetch(server, tmp_path, roles=["assembly_test"])
    assert server.requests == []


@pytest.fixture
def local(tmp_path):
    folder = tmp_path / "local"
    folder.mkdir()
    for name, body in BODIES.items():
        (folder / name).write_bytes(body)
    return folder


def test_local_folder_is_copied_and_verified_without_request(server, fake, local, tmp_path):
    dest = tmp_path / "out"
    out = fetch(server, dest, local=local)
    for path in out.values():
        assert path.read_bytes() == BODIES[path.name]
        assert not path.is_symlink()
    assert names(dest) == sorted(BODIES)
    assert server.requests == []
    (local / "assy_fake_train.nc").unlink()  # the copies stand alone
    assert fetch(server, dest, local=local) == out


def test_local_folder_symlinked(server, fake, local, tmp_path):
    out = fetch(server, tmp_path / "out", local=local, local_mode="symlink")
    for path in out.values():
        assert path.is_symlink() and path.resolve() == (local / path.name).resolve()
        assert path.read_bytes() == BODIES[path.name]
    assert server.requests == []


@pytest.mark.parametrize("mode", ["copy", "symlink"])
def test_local_file_with_wrong_sha1_is_refused(server, fake, local, tmp_path, mode):
    (local / "assy_fake_test.nc").write_bytes(b"corrupt")
    dest = tmp_path / "out"
    with pytest.raises(DownloadError) as info:
        fetch(server, dest, local=local, roles=["assembly_test"], local_mode=mode)
    message = str(info.value)
    assert "sha1" in message and fake.file("assembly_test").sha1 in message
    assert hashlib.sha1(b"corrupt").hexdigest() in message
    assert str(local / "assy_fake_test.nc") in message
    assert names(dest) == []


def test_local_missing_file_names_file_and_folder(server, fake, local, tmp_path):
    (local / "assy_fake_test.nc").unlink()
    with pytest.raises(FileNotFoundError) as info:
        fetch(server, tmp_path / "out", local=local)
    assert "assy_fake_test.nc" in str(info.value) and str(local) in str(info.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fetch(server, tmp_path / "out", local=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="local_mode"):
        fetch(server, tmp_path / "out", local=local, local_mode="hardlink")
    assert server.requests == []
