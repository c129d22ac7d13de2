"""Recordings on THINGS images (lrrsa.data.brainio_things): the stimulus set rebuilt from
THINGS file stems, and the images taken from a THINGS images archive or folder.

Expectations come from THINGS' naming (<concept>_<two digits><letter>.jpg under
object_images/<concept>/) and from the bytes written into the fixtures.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lrrsa.data import brainio as bio
from lrrsa.data.brainio_things import prepare_things_stimuli, things_concept, write_things_stimulus_set
from lrrsa.data.stimuli import read_stimulus_table

STIMULI = ["aircraft_carrier_01b", "aardvark_01b", "baby_buggy_02s", "acorn_12n"]


def things_assembly(path, stimuli=STIMULI, n_repetitions=2):
    """A TVSD-like test assembly: (presentation, neuroid, time_bin 1), ids THINGS stems."""
    ids = [s for s in stimuli for _ in range(n_repetitions)]
    data = np.random.default_rng(0).normal(size=(len(ids), 3, 1))
    bio.write_assembly(path, data, {"stimulus_id": ids, "repetition": [r for _ in stimuli for r in range(n_repetitions)]},
                       {"neuroid_id": [0, 1, 0], "region": ["V1", "IT", "V1"], "subject": ["monkeyF", "monkeyF", "monkeyN"]},
                       time_bins=[(70, 170)], dims=("presentation", "neuroid", "time_bin"))
    return path


def jpeg(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (value, 255 - value, 7)).save(buffer, format="JPEG")
    return buffer.getvalue()


def things_zip(path, stimuli, *, prefix="THINGS/Images/"):
    """images_THINGS.zip's layout: object_images/<concept>/<stem>.jpg under a leading folder."""
    images = {s: jpeg(10 * k) for k, s in enumerate(stimuli)}
    with zipfile.ZipFile(path, "w") as zf:
        for stem, data in images.items():
            zf.writestr(f"{prefix}object_images/{things_concept(stem)}/{stem}.jpg", data)
        zf.writestr(f"{prefix}object_images/dog/dog_01b.jpg", jpeg(200))  # not presented: not taken
    return images


@pytest.mark.parametrize(("stem", "concept"), [("aardvark_01b", "aardvark"), ("baby_buggy_02s", "baby_buggy"),
                                                ("t-shirt_03n", "t-shirt"), ("acorn_12", "acorn")])
def test_the_concept_is_the_stem_without_its_image_number(stem, concept):
    assert things_concept(stem) == concept


@pytest.mark.parametrize("stem", ["n0", "aardvark", "aardvark_b", "_01b", "../x_01b", "a/b_01b"])
def test_an_id_that_is_not_a_things_stem_is_refused(stem):
    with pytest.raises(ValueError, match="not a THINGS file stem"):
        things_concept(stem)


def test_the_stimulus_set_lists_every_presented_id_with_its_file_and_concept(tmp_path):
    assembly = things_assembly(tmp_path / "assy.nc")
    table = write_things_stimulus_set(assembly, tmp_path / "set" / "stimulus_set.csv")
    written = pd.read_csv(tmp_path / "set" / "stimulus_set.csv", dtype=str)
    pd.testing.assert_frame_equal(written, table)
    assert written["stimulus_id"].tolist() == sorted(STIMULI)
    assert written["filename"].tolist() == [s + ".jpg" for s in sorted(STIMULI)]
    assert written["category"].tolist() == ["aardvark", "acorn", "aircraft_carrier", "baby_buggy"]


def test_ids_that_are_not_things_stems_are_named_with_the_assembly(tmp_path):
    assembly = things_assembly(tmp_path / "assy.nc", stimuli=["aardvark_01b", "n0", "n1"])
    with pytest.raises(ValueError, match=r"assy\.nc: 2 stimulus id\(s\) are not THINGS file stems.*'n0', 'n1'"):
        write_things_stimulus_set(assembly, tmp_path / "stimulus_set.csv")
    assert not (tmp_path / "stimulus_set.csv").exists()


@pytest.mark.parametrize("source", ["zip", "folder"])
def test_the_chosen_stimuli_are_taken_from_the_things_images(tmp_path, source):
    assembly = things_assembly(tmp_path / "assy.nc")
    csv = tmp_path / "stimulus_set.csv"
    write_things_stimulus_set(assembly, csv)
    images = things_zip(tmp_path / "images_THINGS.zip", STIMULI)
    where = tmp_path / "images_THINGS.zip"
    if source == "folder":
        with zipfile.ZipFile(where) as zf:
            zf.extractall(tmp_path / "unpacked")
        where = tmp_path / "unpacked" / "THINGS" / "Images"
    chosen = ["baby_buggy_02s", "aardvark_01b"]
    table = prepare_things_stimuli(assembly, csv, tmp_path / "out/stimuli.tsv", tmp_path / "out/images", images=where,
                                   stimulus_ids=chosen)
    written = read_stimulus_table(tmp_path / "out/stimuli.tsv")
    assert written["stimulus"].tolist() == ["aardvark_01b.jpg", "baby_buggy_02s.jpg"]
    assert written["concept"].tolist() == ["aardvark", "baby_buggy"]
    assert table["stimulus_id"].tolist() == ["aardvark_01b", "baby_buggy_02s"]
    files = sorted(p.relative_to(tmp_path / "out/images").as_posix() for p in (tmp_path / "out/images").rglob("*.jpg"))
    assert files == ["object_images/aardvark/aardvark_01b.jpg", "object_images/baby_buggy/baby_buggy_02s.jpg"]
    for stem in chosen:
        path = tmp_path / "out/images/object_images" / things_concept(stem) / f"{stem}.jpg"
        assert path.read_bytes() == images[stem]


@pytest.mark.parametrize("source", ["zip", "folder"])
def test_images_missing_from_the_things_images_are_all_named(tmp_path, source):
    assembly = things_assembly(tmp_path / "assy.nc")
    csv = tmp_path / "stimulus_set.csv"
    write_things_stimulus_set(assembly, csv)
    things_zip(tmp_path / "images_THINGS.zip", STIMULI[:2])
    where = tmp_path / "images_THINGS.zip"
    if source == "folder":
        with zipfile.ZipFile(where) as zf:
            zf.extractall(tmp_path / "unpacked")
        where = tmp_path / "unpacked" / "THINGS" / "Images"
    with pytest.raises((ValueError, FileNotFoundError), match=r"2 of 4.*acorn_12n\.jpg.*baby_buggy_02s\.jpg"):
        prepare_things_stimuli(assembly, csv, tmp_path / "out/stimuli.tsv", tmp_path / "out/images", images=where)
    assert not (tmp_path / "out/images").exists()
