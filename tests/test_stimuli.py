"""Tests of lrrsa.data.stimuli: selection rules, image paths, the stimulus table file."""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

import pandas as pd
import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from lrrsa.data import stimuli as st  # noqa: E402
from lrrsa.data.things_fmri import read_stimulus_metadata  # noqa: E402

REAL_METADATA = Path("/work/shared/data/things-metadata/sub-01_StimulusMetadata.csv")


def toy_metadata(with_concept: bool = True) -> pd.DataFrame:
    """Trials in shuffled order; a test image that sorts before every train exemplar of its concept."""
    rows = [
        ("train", "t-shirt_02s.jpg", "t-shirt"),
        ("train", "stove1_03n.jpg", "stove1"),
        ("test", "acorn_00a.jpg", "acorn"),  # test trial: never a first exemplar
        ("train", "acorn_02n.jpg", "acorn"),
        ("train", "t-shirt_01b.jpg", "t-shirt"),
        ("train", "stove1_02s.jpg", "stove1"),
        ("test", "acorn_00a.jpg", "acorn"),
        ("train", "acorn_01b.jpg", "acorn"),
        ("test", "stove1_13s.jpg", "stove1"),
        ("train", "air_conditioner_01s.jpg", "air_conditioner"),
    ]
    df = pd.DataFrame(rows, columns=["trial_type", "stimulus", "concept"])
    df.insert(1, "session", [1, 1, 1, 2, 2, 2, 2, 3, 3, 3])
    return df if with_concept else df.drop(columns=["concept"])


# ------------------------------------------------------------------------ rules


@pytest.fixture(scope="module")
def real():
    if not REAL_METADATA.is_file():
        pytest.skip(f"{REAL_METADATA} not available")
    return read_stimulus_metadata(REAL_METADATA)


def test_first_exemplar_on_real_metadata_is_the_papers_720(real):
    table = st.select_stimuli(real, "first_exemplar")
    assert list(table.columns) == ["stimulus", "concept"]
    assert len(table) == 720
    assert table["concept"].is_unique
    assert set(table["concept"]) == set(real.loc[real["trial_type"] == "train", "concept"])
    assert all(fnmatch.fnmatchcase(s, "*_01?.jpg") for s in table["stimulus"])
    assert list(table["stimulus"]) == sorted(table["stimulus"])
    train = real[real["trial_type"] == "train"]
    assert set(table["stimulus"]) <= set(train["stimulus"])
    # each is the alphabetically first train stimulus of its concept
    first = train.groupby("concept")["stimulus"].min()
    assert dict(zip(table["concept"], table["stimulus"])) == first.to_dict()
    # the concept column is the metadata's
    by_stim = real.drop_duplicates("stimulus").set_index("stimulus")["concept"]
    assert (by_stim.loc[table["stimulus"]].to_numpy() == table["concept"].to_numpy()).all()
    # concepts with digits, hyphens and underscores keep their full names
    assert {"camera1", "camera2", "t-shirt", "ping-pong_table", "mosquito_net"} <= set(table["concept"])
    assert table.set_index("concept").loc["ping-pong_table", "stimulus"].startswith("ping-pong_table_01")


def test_test_rule_on_real_metadata(real):
    table = st.select_stimuli(real, "test")
    assert len(table) == 100
    assert list(table["stimulus"]) == sorted(table["stimulus"])
    counts = real.loc[real["trial_type"] == "test", "stimulus"].value_counts()
    assert (counts.loc[table["stimulus"]] == 12).all()
    sessions = real[real["trial_type"] == "test"].groupby("stimulus")["session"].nunique()
    assert (sessions.loc[table["stimulus"]] == 12).all()
    assert not set(table["stimulus"]) & set(real.loc[real["trial_type"] == "train", "stimulus"])


def test_all_rule_on_real_metadata_is_every_distinct_stimulus(real):
    table = st.select_stimuli(real, "all")
    assert len(table) == 8640 + 100 == real["stimulus"].nunique()
    assert list(table["stimulus"]) == sorted(real["stimulus"].unique())
    by_stim = real.drop_duplicates("stimulus").set_index("stimulus")["concept"]
    assert (by_stim.loc[table["stimulus"]].to_numpy() == table["concept"].to_numpy()).all()


def test_all_rule_toy():
    table = st.select_stimuli(toy_metadata(), "all")
    assert table["stimulus"].tolist() == sorted(set(toy_metadata()["stimulus"]))


def test_first_exemplar_toy_ignores_test_trials_and_row_order():
    table = st.select_stimuli(toy_metadata(), "first_exemplar")
    assert table.to_dict("list") == {
        "stimulus": ["acorn_01b.jpg", "air_conditioner_01s.jpg", "stove1_02s.jpg", "t-shirt_01b.jpg"],
        "concept": ["acorn", "air_conditioner", "stove1", "t-shirt"],
    }


def test_concept_fallback_without_concept_column():
    with_col = st.select_stimuli(toy_metadata(True), "first_exemplar")
    without = st.select_stimuli(toy_metadata(False), "first_exemplar")
    pd.testing.assert_frame_equal(with_col, without)
    meta = toy_metadata()
    meta.loc[meta["stimulus"] == "stove1_13s.jpg", "concept"] = None  # a missing cell falls back too
    assert st.select_stimuli(meta, "test")["concept"].tolist() == ["acorn", "stove1"]


def test_test_rule_toy():
    table = st.select_stimuli(toy_metadata(), "test")
    assert table.to_dict("list") == {"stimulus": ["acorn_00a.jpg", "stove1_13s.jpg"], "concept": ["acorn", "stove1"]}


def test_list_rule(tmp_path):
    path = tmp_path / "stimuli.txt"
    path.write_text("stimulus\n# chosen by hand\nt-shirt_02s.jpg\n\n  acorn_00a.jpg  \nt-shirt_02s.jpg\n")
    table = st.select_stimuli(toy_metadata(), "list", list_file=path)
    assert table.to_dict("list") == {"stimulus": ["acorn_00a.jpg", "t-shirt_02s.jpg"], "concept": ["acorn", "t-shirt"]}


def test_list_rule_names_unknown_ids_and_file(tmp_path):
    path = tmp_path / "mine.txt"
    names = ["acorn_01b.jpg"] + [f"cat_{i:02d}b.jpg" for i in range(1, 9)]
    path.write_text("\n".join(names) + "\n")
    with pytest.raises(ValueError, match=r"mine\.txt: 8 stimulus name\(s\) not in .*'cat_01b\.jpg'.*\(8 in all\)"):
        st.select_stimuli(toy_metadata(), "list", list_file=path)
    with pytest.raises(ValueError, match="needs list_file"):
        st.select_stimuli(toy_metadata(), "list")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(ValueError, match=r"empty\.txt: no stimulus names"):
        st.select_stimuli(toy_metadata(), "list", list_file=empty)


def test_unknown_rule_and_inconsistent_concepts():
    with pytest.raises(ValueError, match="unknown stimulus rule 'every'.*first_exemplar, test, list, all"):
        st.select_stimuli(toy_metadata(), "every")
    meta = toy_metadata()
    meta.loc[meta["stimulus"] == "acorn_00a.jpg", "concept"] = ["acorn", "oak"]
    with pytest.raises(ValueError, match="more than one concept.*acorn_00a.jpg"):
        st.select_stimuli(meta, "test")


# ----------------------------------------------------------------------- images


def test_image_path_layout(tmp_path):
    assert st.image_path(tmp_path, "t-shirt_01b.jpg", "t-shirt") == tmp_path / "object_images" / "t-shirt" / "t-shirt_01b.jpg"
    with pytest.raises(ValueError, match="not a plain"):
        st.image_path(tmp_path, "../x.jpg", "dog")
    with pytest.raises(ValueError, match="not a plain"):
        st.image_path(tmp_path, "x.jpg", "..")


def test_check_images_names_missing(tmp_path):
    table = pd.DataFrame({"stimulus": [f"dog_{i:02d}b.jpg" for i in range(1, 9)], "concept": "dog"})
    folder = tmp_path / "object_images" / "dog"
    folder.mkdir(parents=True)
    for s in table["stimulus"][:2]:
        (folder / s).write_bytes(b"\xff\xd8")
    with pytest.raises(FileNotFoundError, match=r"6 of 8 stimulus images missing.*dog_03b\.jpg.*\(6 in all\)"):
        st.check_images(tmp_path, table)
    paths = st.check_images(tmp_path, table.iloc[:2])
    assert paths == [folder / "dog_01b.jpg", folder / "dog_02b.jpg"]
    with pytest.raises(FileNotFoundError, match="must be the folder containing object_images"):
        st.check_images(folder, table.iloc[:2])


# ------------------------------------------------------------------------ table


def test_table_roundtrip_keeps_order_and_text(tmp_path):
    table = pd.DataFrame({"stimulus": ["nan_01b.jpg", "null_01s.jpg", "1_01b.jpg"], "concept": ["nan", "null", "1"]})
    path = tmp_path / "sub" / "stimuli.tsv"
    st.write_stimulus_table(path, table)
    assert path.read_text().splitlines()[0] == "stimulus\tconcept"
    back = st.read_stimulus_table(path)
    assert back.to_dict("list") == table.to_dict("list")


def test_table_errors(tmp_path):
    with pytest.raises(ValueError, match="lacks column.*concept"):
        st.write_stimulus_table(tmp_path / "a.tsv", pd.DataFrame({"stimulus": ["a_01b.jpg"]}))
    with pytest.raises(ValueError, match="duplicate stimuli.*'a_01b.jpg'"):
        st.write_stimulus_table(tmp_path / "a.tsv", pd.DataFrame({"stimulus": ["a_01b.jpg"] * 2, "concept": "a"}))
    bad = tmp_path / "bad.tsv"
    bad.write_text("stimulus\tname\na_01b.jpg\ta\n")
    with pytest.raises(ValueError, match=r"bad\.tsv lacks column\(s\) concept"):
        st.read_stimulus_table(bad)


# ------------------------------------------------------------- workflow entry


def write_subject_metadata(folder: Path, subject: str, meta: pd.DataFrame, subject_id: int) -> None:
    full = meta.copy()
    full["run"] = 1
    full["subject_id"] = subject_id
    full["trial_id"] = range(len(full))
    cols = ["trial_type", "session", "run", "subject_id", "trial_id", "stimulus", "concept"]
    full[cols].to_csv(folder / f"{subject}_StimulusMetadata.csv", index=False)


def test_write_selected_stimuli(tmp_path):
    betas = tmp_path / "betas_csv"
    betas.mkdir()
    meta = toy_metadata()
    write_subject_metadata(betas, "sub-01", meta, 1)
    write_subject_metadata(betas, "sub-02", meta.iloc[::-1], 2)  # other trial order, same stimuli
    images = tmp_path / "images"
    expected = st.select_stimuli(meta, "first_exemplar")
    for s, c in zip(expected["stimulus"], expected["concept"]):
        (images / "object_images" / c).mkdir(parents=True, exist_ok=True)
        (images / "object_images" / c / s).write_bytes(b"\xff\xd8")
    out = tmp_path / "res" / "stimuli.tsv"
    table = st.write_selected_stimuli(betas, images, ["sub-01", "sub-02"], out, rule="first_exemplar")
    pd.testing.assert_frame_equal(table, expected)
    pd.testing.assert_frame_equal(st.read_stimulus_table(out), expected)
    with pytest.raises(FileNotFoundError, match="2 of 2 stimulus images missing"):
        st.write_selected_stimuli(betas, images, ["sub-01"], out, rule="test")
    # a subject whose trials differ: the selections disagree
    write_subject_metadata(betas, "sub-03", meta[meta["stimulus"] != "acorn_01b.jpg"], 3)
    with pytest.raises(ValueError, match=r"different stimuli for sub-01 \(4\) and sub-03 \(4\); 2 differ: 'acorn_01b\.jpg', 'acorn_02n\.jpg'"):
        st.write_selected_stimuli(betas, images, ["sub-01", "sub-03"], out, rule="first_exemplar")
    with pytest.raises(FileNotFoundError, match=r"sub-04_StimulusMetadata\.csv not found"):
        st.write_selected_stimuli(betas, images, ["sub-04"], out, rule="test")


def test_write_selected_stimuli_without_images_and_atomic(tmp_path, monkeypatch):
    """Before the images are extracted the selection runs without the image check; a
    failed write leaves neither the table nor a temporary file."""
    betas = tmp_path / "betas_csv"
    betas.mkdir()
    write_subject_metadata(betas, "sub-01", toy_metadata(), 1)
    out = tmp_path / "res" / "stimuli.tsv"
    table = st.write_selected_stimuli(betas, None, ["sub-01"], out, rule="test", check=False)
    assert table["stimulus"].tolist() == ["acorn_00a.jpg", "stove1_13s.jpg"]
    with pytest.raises(ValueError, match="check=True needs images_dir"):
        st.write_selected_stimuli(betas, None, ["sub-01"], out, rule="test")

    def broken(self, path, **kwargs):
        Path(path).write_text("stimulus\tcon")  # half a table, then the job dies
        raise OSError("disk full")

    out.unlink()
    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        st.write_stimulus_table(out, table)
    assert list(out.parent.iterdir()) == []
