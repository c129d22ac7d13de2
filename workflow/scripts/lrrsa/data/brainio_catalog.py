"""Catalog of the public macaque recordings in Brain-Score's brainio format, and their download.

Three datasets, each a frozen :class:`BrainioDataset` (look one up with
:func:`brainio_dataset`; names in :data:`DATASET_NAMES`):

- ``MajajHong2015.public``: DiCarlo lab, V4 and IT multi-unit sites, HVM images.
- ``FreemanZiemba2013.public``: Movshon lab, V1 and V2 single units, texture images.
- ``Papale2025``: TVSD (THINGS ventral-stream spiking dataset), V1, V4 and IT
  multi-unit sites of two monkeys, THINGS images; a train and a test assembly.

Each lists its published files (:class:`BrainioFile`: bucket, folder, file name, S3
versionId, SHA-1, exactly as registered in brain-score/vision's
``brainscore_vision/data/<name>/__init__.py``; see the project's DESIGN.md section 2)
and the preprocessing Brain-Score's benchmarks apply to it, as data with its source.

URLs: ``https://<bucket>.s3.amazonaws.com/<folder>/<file>?versionId=<id>``. A
versionId of ``"null"`` is kept and sent as ``versionId=null``: it is S3's id of an
object stored before versioning was enabled on the bucket, and asking for it pins
exactly that object (leaving the query out would return the *newest* version, which
could be a later upload with another SHA-1). The SHA-1 is checked either way.

:func:`fetch_brainio_dataset` downloads a dataset's files through
:func:`lrrsa.data.download.download` (resumable ``.part`` file, retries, SHA-1 check,
renamed into place only when complete), or takes them from a local folder.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lrrsa.data.download import DownloadError, download, verify_file

__all__ = [
    "BUCKET",
    "DATASET_NAMES",
    "S3_HOST",
    "BrainioDataset",
    "BrainioFile",
    "brainio_dataset",
    "fetch_brainio_dataset",
]

log = logging.getLogger(__name__)

#: Brain-Score's public bucket.
BUCKET = "brainscore-storage"
#: Host form of S3 URLs; ``{bucket}`` is filled in.
S3_HOST = "https://{bucket}.s3.amazonaws.com"
#: S3's versionId of objects stored before versioning was enabled.
NULL_VERSION = "null"
_VISION = "https://github.com/brain-score/vision/blob/master/brainscore_vision/"


@dataclass(frozen=True)
class BrainioFile:
    """One published file: ``https://<bucket>.s3.amazonaws.com/<folder>/<file_name>?versionId=<version_id>``.

    ``role``: what it is within its dataset (``assembly``, ``stimulus_csv``,
    ``stimulus_zip``; Papale2025: ``assembly_train``, ``assembly_test``).
    ``version_id``: S3 object version, ``"null"`` for objects stored before
    versioning (sent as is, see the module docstring). ``sha1``: 40 lower-case hex
    digits of the whole file, as Brain-Score registers it.
    """

    role: str
    file_name: str
    folder: str
    version_id: str
    sha1: str
    bucket: str = BUCKET

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{40}", self.sha1):
            raise ValueError(f"{self.file_name}: sha1 must be 40 lower-case hex digits; got {self.sha1!r}")
        if not self.version_id or any(c in self.version_id for c in "&?#/ "):
            raise ValueError(f"{self.file_name}: not an S3 versionId: {self.version_id!r} (use {NULL_VERSION!r} for pre-versioning objects)")
        if not self.file_name or "/" in self.file_name or self.file_name in (".", ".."):
            raise ValueError(f"file name must be a plain name; got {self.file_name!r}")

    @property
    def key(self) -> str:
        """The object's key in the bucket: ``<folder>/<file_name>``."""
        return f"{self.folder}/{self.file_name}" if self.folder else self.file_name

    def url(self, base_url: str | None = None) -> str:
        """Download URL: S3's (``base_url=None``) or ``<base_url>/<folder>/<file_name>``, a
        mirror or a test server, with the same ``?versionId=`` query (ignored by a
        plain HTTP server)."""
        host = S3_HOST.format(bucket=self.bucket) if base_url is None else base_url.rstrip("/")
        return f"{host}/{self.key}?versionId={self.version_id}"


@dataclass(frozen=True)
class BrainioDataset:
    """A published brainio dataset and how Brain-Score's benchmarks preprocess it.

    Files: ``files`` (see :class:`BrainioFile`); :meth:`file` looks one up by role.

    Preprocessing (``preprocessing_source``: the brain-score/vision files it is taken from):

    - ``time_window`` (ms, start inclusive, end exclusive; the argument of
      :func:`lrrsa.data.brainio_responses.stimulus_responses`): the time bins
      averaged. None: the file's single bin as stored. ``time_bins``: what the file
      holds, in words.
    - ``average_repetitions``: responses averaged over each stimulus's presentations
      (Brain-Score's ``average_repetition``); ``n_repetitions``: the nominal number
      per stimulus (Brain-Score's ``NUMBER_OF_TRIALS``; Papale2025: the test
      assembly's, the train assembly has one presentation per stimulus).
    - ``regions``: the values of the neuroid coordinate ``region`` that are the
      dataset's ROIs, one benchmark per region (Brain-Score: ``assembly.sel(region=...)``);
      :attr:`rois` maps each ROI name to its region value (the same names).
    - ``animal_coord``: the neuroid coordinate naming the animal (None:
      Brain-Score's benchmark groups by none, neuroids keyed by ``neuroid_id``
      alone; FreemanZiemba2013's packaging script writes only ``neuroid_id`` and
      ``region`` on neuroid). ``animals``: the values of that coordinate in the file
      (the workflow's subjects; empty without one), as the dataset papers name the
      monkeys; a job that reads the file checks them against it.
    - ``reliability_threshold``: neuroids kept when their reliability is *strictly*
      above it (None: all neuroids kept); ``reliability_coord``: the neuroid
      coordinate Brain-Score compares with it; ``reliability_note``: how that
      reliability was computed.
    - ``ceiling``: Brain-Score's ceiling (split-half internal consistency,
      :func:`lrrsa.data.brainio_reliability.internal_consistency`).
    - ``stimuli_public``: whether the stimulus set's CSV and zip are public;
      ``stimulus_note``: where the images come from and what a ``stimulus_id`` is.
      ``things_images``: the stimuli are THINGS images and ``stimulus_id`` is the
      THINGS file stem (Papale2025), so they are taken from the THINGS images archive
      (:mod:`lrrsa.data.brainio_things`).
    - ``analysis_role``: the role of the assembly the workflow's RSA reads, the one
      with repetitions (noise ceilings need them; Papale2025: ``assembly_test``).
    """

    name: str
    description: str
    files: tuple[BrainioFile, ...]
    regions: tuple[str, ...]
    animal_coord: str | None
    animals: tuple[str, ...]
    time_window: tuple[float, float] | None
    time_bins: str
    average_repetitions: bool
    n_repetitions: int
    reliability_threshold: float | None
    reliability_coord: str | None
    reliability_note: str
    ceiling: str
    stimuli_public: bool
    stimulus_note: str
    preprocessing_source: tuple[str, ...]
    bibliography: str
    things_images: bool = False
    analysis_role: str = "assembly"

    def __post_init__(self) -> None:
        roles = [f.role for f in self.files]
        if len(set(roles)) != len(roles):
            raise ValueError(f"{self.name}: file roles repeat: {roles}")
        names = [f.file_name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: file names repeat: {names}")
        if self.analysis_role not in roles:
            raise ValueError(f"{self.name}: analysis_role {self.analysis_role!r} is not a file role: {roles}")

    @property
    def roles(self) -> tuple[str, ...]:
        """Roles of the files, in catalog order."""
        return tuple(f.role for f in self.files)

    @property
    def rois(self) -> dict[str, str]:
        """ROI name -> value of the ``region`` coordinate selecting it (identical names)."""
        return {region: region for region in self.regions}

    def file(self, role: str) -> BrainioFile:
        """The file of this role; ``ValueError`` listing the roles when there is none."""
        for f in self.files:
            if f.role == role:
                return f
        raise ValueError(f"{self.name}: no file with role {role!r}; roles: {', '.join(self.roles)}")


# ----------------------------------------------------------------------- the catalog

_MAJAJHONG = BrainioDataset(
    name="MajajHong2015.public",
    description="Majaj, Hong, Solomon & DiCarlo 2015 (J Neurosci): multi-unit sites in V4 and IT of two "
    "monkeys (Chabo, Tito), public half of the HVM images; assembly (neuroid 256, presentation 148,480, time_bin 1).",
    files=(
        BrainioFile("assembly", "assy_dicarlo_MajajHong2015_public.nc", "brainio-brainscore", NULL_VERSION,
                    "13d28ca0ce88ee550b54db3004374ae19096e9b9"),
        BrainioFile("stimulus_csv", "stimulus_hvm-public.csv", "brainio-brainscore", NULL_VERSION,
                    "5ca7a3da00d8e9c694a9cd725df5ba0ad6d735af"),
        BrainioFile("stimulus_zip", "stimulus_hvm-public.zip", "brainio-brainscore", NULL_VERSION,
                    "8aa44e038d7b551efa8077467622f9d48d72e473"),
    ),
    regions=("V4", "IT"),
    animal_coord="animal",
    animals=("Chabo", "Tito"),
    time_window=(70.0, 170.0),
    time_bins="one bin, 70-170 ms (float32 rates, already normalised)",
    average_repetitions=True,
    n_repetitions=50,
    reliability_threshold=None,
    reliability_coord=None,
    reliability_note="no neuroid selection: all sites of the region are used",
    ceiling="internal_consistency",
    stimuli_public=True,
    stimulus_note="HVM images, stimulus_hvm-public.zip (flat); map stimulus_id to the image through the CSV's "
    "filename column (file names are not the ids)",
    preprocessing_source=(
        _VISION + "benchmarks/majajhong2015/benchmark.py (load_assembly: squeeze('time_bin'), sel(region=...), "
        "transpose('presentation', 'neuroid'), average_repetition; NUMBER_OF_TRIALS = 50; "
        "ceiler load_ceiling('internal_consistency'))",
        _VISION + "data/majajhong2015/__init__.py (files, sha1)",
    ),
    bibliography="doi:10.1523/JNEUROSCI.5181-14.2015",
)

_FREEMANZIEMBA = BrainioDataset(
    name="FreemanZiemba2013.public",
    description="Freeman, Ziemba, Heeger, Simoncelli & Movshon 2013 (Nat Neurosci): single units in V1 and V2, "
    "greyscale naturalistic textures and spectrally matched noise in a cosine aperture (public half); "
    "assembly (neuroid 205, time_bin 300, presentation 2,700).",
    files=(
        BrainioFile("assembly", "assy_movshon_FreemanZiemba2013_public.nc", "brainio-brainscore",
                    "W2vx7jdh9utZdVumHHarXa4L1zOrA8Fd", "761c08f796db4e342555cdb60eef23a4f19ead43"),
        BrainioFile("stimulus_csv", "stimulus_FreemanZiemba2013_aperture-public.csv", "brainio-brainscore",
                    NULL_VERSION, "194c9b301a4e3e9cff02481d4c19b39331d52660"),
        BrainioFile("stimulus_zip", "stimulus_FreemanZiemba2013_aperture-public.zip", "brainio-brainscore",
                    NULL_VERSION, "3a6fec1fc28c212882d6833e267ea8654d289611"),
    ),
    regions=("V1", "V2"),
    animal_coord=None,
    animals=(),
    time_window=(50.0, 200.0),
    time_bins="300 bins of 1 ms (0/1 spikes), bin t covering [t, t + 1) ms; the 1-ms bins 50..199 are averaged",
    average_repetitions=True,
    n_repetitions=20,
    reliability_threshold=None,
    reliability_coord=None,
    reliability_note="no neuroid selection: all units of the region are used",
    ceiling="internal_consistency",
    stimuli_public=True,
    stimulus_note="texture images, stimulus_FreemanZiemba2013_aperture-public.zip (flat); map stimulus_id to "
    "the image through the CSV",
    preprocessing_source=(
        _VISION + "benchmarks/freemanziemba2013/benchmarks/benchmark.py (load_assembly: sel(region=...), "
        "time_window = (50, 200), sel(time_bin=[(t, t + 1) for t in range(*time_window)]), mean over time_bin, "
        "average_repetition; NUMBER_OF_TRIALS = 20; ceiler load_ceiling('internal_consistency'))",
        _VISION + "data/freemanziemba2013/__init__.py (files, sha1)",
    ),
    bibliography="doi:10.1038/nn.3402",
)

_PAPALE = BrainioDataset(
    name="Papale2025",
    description="Papale, Wang, Self & Roelfsema 2025 (Neuron), TVSD: multi-unit activity (normalised MUA, "
    "THINGS_normMUA.mat) of 1,024 electrodes in each of two monkeys (monkeyF, monkeyN) in V1, V4 and IT; "
    "train assembly 22,248 THINGS images x 1 presentation, test assembly 100 images x 30 repetitions; "
    "(presentation, neuroid 2,048, time_bin 1); neuroid_id restarts per monkey.",
    files=(
        BrainioFile("assembly_train", "assy_THINGS_TVSD_train_Assembly.nc", "brainscore-vision/benchmarks/Papale2025",
                    "q3sE0RZ5Fuq0C6vTVIiF48AsvG40.b7l", "97e3e9ed2280441a30fa5c33e8537db1b45a9da8"),
        BrainioFile("assembly_test", "assy_THINGS_TVSD_test_Assembly.nc", "brainscore-vision/benchmarks/Papale2025",
                    "XK0CVCAzfHNOrKgmNrLqFfwvs_gSWKb.", "685025f67e90006e775ac153e8e0007e35b62bbc"),
    ),
    regions=("V1", "V4", "IT"),
    animal_coord="subject",
    animals=("monkeyF", "monkeyN"),
    time_window=None,
    time_bins="one bin as stored (Brain-Score: isel(time_bin=0)); labelled 70-170 ms by the packaging script, "
    "its values are the authors' time-averaged normalised MUA",
    average_repetitions=True,
    n_repetitions=30,
    reliability_threshold=0.3,
    reliability_coord="reliability",
    reliability_note="neuroids kept when reliability > 0.3 (strict), the same threshold for both monkeys, "
    "applied to the train and the test assembly alike; expected counts monkeyF V1/V4/IT 332/117/157, "
    "monkeyN 410/198/141 of 2,048. Brain-Score compares the stored neuroid coordinate 'reliability' "
    "(the TVSD authors' 'reliab' averaged over its second axis, written by the packaging script), not a "
    "reliability it computes; the split-half internal consistency (test assembly's 30 repetitions) is its ceiling. "
    "lrrsa.data.brainio_reliability.reliable_neuroids offers both (method='coordinate' or 'split_half').",
    ceiling="internal_consistency",
    stimuli_public=False,
    stimulus_note="stimulus files not public (Brain-Score's THINGS_TVSD_*_Stimuli sets need private access); the "
    "images are THINGS images, taken from the THINGS images archive: stimulus_id is the THINGS file stem, "
    "e.g. 'aardvark_01b'",
    preprocessing_source=(
        _VISION + "benchmarks/papale2025/benchmark.py (load_assembly: filter_reliable_neuroids(assembly, 0.3, "
        "'reliability'), sel(region=...), isel(time_bin=0), average_repetition on the test split only)",
        _VISION + "benchmark_helpers/neural_common.py (filter_reliable_neuroids: "
        "assembly.where(assembly[reliab_coord] > reliab_threshold, drop=True))",
        _VISION + "data/papale2025/data_packaging/package_papale2025.py (reliability = reliab.mean(axis=1); "
        "regions per electrode range; neuroid_id per subject; time_bin 70-170)",
        _VISION + "data/papale2025/test.py (reliable counts per subject and region)",
        _VISION + "data/papale2025/__init__.py (files, sha1)",
    ),
    bibliography="doi:10.1016/j.neuron.2024.12.003",
    things_images=True,
    analysis_role="assembly_test",
)

_CATALOG: dict[str, BrainioDataset] = {d.name: d for d in (_MAJAJHONG, _FREEMANZIEMBA, _PAPALE)}
#: Names known to :func:`brainio_dataset`.
DATASET_NAMES: tuple[str, ...] = tuple(_CATALOG)


def brainio_dataset(name: str) -> BrainioDataset:
    """The catalog entry of ``name`` (exact, one of :data:`DATASET_NAMES`).
    ``ValueError`` listing the known names for any other."""
    try:
        return _CATALOG[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown brainio dataset {name!r}; known: {', '.join(_CATALOG)}") from None


# ------------------------------------------------------------------------ fetching


def _from_local(file: BrainioFile, folder: Path, dest: Path, mode: str) -> Path:
    """Put ``folder/<file_name>`` at ``dest``, verified by SHA-1 (see :func:`fetch_brainio_dataset`)."""
    source = folder / file.file_name
    if not source.is_file():
        raise FileNotFoundError(f"{file.file_name} not found in the local folder {folder} (expected {source})")
    if mode == "symlink":
        verify_file(source, sha1=file.sha1)  # DownloadError naming the local file, expected and actual
        tmp = dest.with_name(dest.name + ".part")
        tmp.unlink(missing_ok=True)
        os.symlink(source.resolve(), tmp)
        os.replace(tmp, dest)
        log.info("linked %s -> %s (sha1 verified)", dest, source)
        return dest
    part = dest.with_name(dest.name + ".part")
    try:
        shutil.copyfile(source, part)
        verify_file(part, sha1=file.sha1)
    except DownloadError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{exc} (copied from {source}); deleted {part.name}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    log.info("copied %s -> %s (sha1 verified)", source, dest)
    return dest


def fetch_brainio_dataset(
    name: str | BrainioDataset,
    dest_dir: str | os.PathLike,
    *,
    local: str | os.PathLike | None = None,
    base_url: str | None = None,
    roles: Sequence[str] | None = None,
    local_mode: Literal["copy", "symlink"] = "copy",
    **download_options,
) -> dict[str, Path]:
    """Fetch the files of a brainio dataset into ``dest_dir``; return {role: path}.

    ``name``: a catalog name (:func:`brainio_dataset`) or a :class:`BrainioDataset`.
    ``roles``: only these files (default: all of the dataset's, catalog order).
    Each file lands at ``dest_dir/<file_name>`` (the published name), verified by its
    SHA-1; a file already there is verified and kept without any request or copy.

    - Default: downloaded from ``file.url(base_url)`` through
      :func:`lrrsa.data.download.download` with ``sha1=file.sha1``: bytes go to
      ``<file_name>.part``, an interrupted download is resumed (HTTP Range) and
      retried, and the file is renamed into place only once complete and verified.
      ``base_url`` replaces ``https://brainscore-storage.s3.amazonaws.com`` (a mirror,
      a test server); ``download_options`` (retries, backoff, timeout, ...) are passed on.
    - ``local``: a folder already holding the files under their published names
      replaces the download (no request is made). ``local_mode="copy"`` (default):
      copied to ``<file_name>.part``, the copy verified by SHA-1, then renamed into
      place; ``"symlink"``: the local file is verified by SHA-1 and ``dest`` becomes a
      symbolic link to it (no disk used; the link breaks if the folder moves).

    Errors: ``ValueError`` for an unknown dataset name, role or ``local_mode``;
    ``FileNotFoundError`` naming the file and the folder when ``local`` lacks a file;
    :class:`lrrsa.data.download.DownloadError` (naming the URL or the local file, the
    destination, the expected and the actual SHA-1) for a failed download or a
    mismatch, after which no file is left at the destination.
    """
    dataset = name if isinstance(name, BrainioDataset) else brainio_dataset(name)
    if local_mode not in ("copy", "symlink"):
        raise ValueError(f"local_mode must be 'copy' or 'symlink'; got {local_mode!r}")
    files = list(dataset.files) if roles is None else [dataset.file(r) for r in roles]
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    folder = None if local is None else Path(local)
    if folder is not None and not folder.is_dir():
        raise FileNotFoundError(f"local folder {folder} for {dataset.name} does not exist")
    out = {}
    for file in files:
        dest = dest_dir / file.file_name
        if folder is None:
            out[file.role] = download(file.url(base_url), dest, sha1=file.sha1, **download_options)
        elif dest.exists() or dest.is_symlink():
            out[file.role] = verify_file(dest, sha1=file.sha1)
        else:
            out[file.role] = _from_local(file, folder, dest, local_mode)
    return out
