"""Macaque recordings in Brain-Score's brainio format, read with bounded memory.

An *assembly* file (``assy_*.nc``) is netCDF-4 (HDF5) holding one data variable, named
``data`` (newer files) or ``__xarray_dataarray_variable__`` (older ones), over the
dimensions ``presentation`` (one stimulus showing), ``neuroid`` (one recording site)
and, optionally, ``time_bin``, in any order (MajajHong2015: neuroid, presentation,
time_bin 1; FreemanZiemba2013: neuroid, time_bin 300, presentation; Papale2025:
presentation, neuroid, time_bin 1). brainio resets its multi-indexes before writing,
so the levels are plain 1-D coordinates on each dimension (``stimulus_id`` or, in old
files, ``image_id``; ``repetition``; ``neuroid_id``, ``region``, ``animal``;
``time_bin_start``/``time_bin_end`` in ms), and the dimensions have no coordinate
variable. Files are opened lazily with xarray (not the brainio package, which pins
xarray < 2022.6) and grouped with pandas/numpy.

- :func:`assembly_info`: layout and metadata tables (one row per presentation, per
  neuroid, per time bin) of a data assembly; :func:`window_bins`: the bins of a window.
- :func:`read_metadata_assembly`: the table of a 1-D metadata assembly (such as
  ``*_extras.nc``, dimension ``event``), which is not a data assembly.
- :func:`write_assembly`: a file in brainio's on-disk form (tests, the demo).

Responses per stimulus (read in slabs) are in :mod:`lrrsa.data.brainio_responses`,
split-half reliability in :mod:`lrrsa.data.brainio_reliability`, stimulus sets in
:mod:`lrrsa.data.brainio_stimuli`.

Import order: importing h5py before netCDF4 can make netCDF4 fail ("NetCDF: HDF
error"), so this module imports netCDF4 first; import it before modules that import
h5py (such as :mod:`lrrsa.data.things_fmri`) when a script uses both.
"""

from __future__ import annotations

try:  # netCDF4 before anything that imports h5py (see the module docstring)
    import netCDF4  # noqa: F401
except ImportError:  # pragma: no cover - h5netcdf is then the engine
    netCDF4 = None

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "ANIMAL_COORDS",
    "DATA_VARIABLES",
    "NEUROID",
    "PRESENTATION",
    "TIME_BIN",
    "AssemblyInfo",
    "assembly_info",
    "open_assembly",
    "read_metadata_assembly",
    "window_bins",
    "write_assembly",
]

PRESENTATION, NEUROID, TIME_BIN = "presentation", "neuroid", "time_bin"
_DIMS = (PRESENTATION, NEUROID, TIME_BIN)
#: Names the single data variable has in brainio files (any other single name is read too).
DATA_VARIABLES = ("data", "__xarray_dataarray_variable__")
#: Neuroid coordinates naming the animal, first found wins (Papale2025 may say ``subject``).
ANIMAL_COORDS = ("animal", "subject")
_PREVIEW = 5


def _preview(items: Sequence[object], n: int = _PREVIEW) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def _engine(engine: str | None) -> str:
    return engine or ("netcdf4" if netCDF4 is not None else "h5netcdf")


def open_assembly(path: Path | str, engine: str | None = None) -> xr.Dataset:
    """The file as a lazy xarray Dataset; ``cache=False`` so that reading a slab never
    keeps the whole variable. Errors naming the file: missing, not netCDF-4."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: brainio assembly not found")
    try:
        return xr.open_dataset(path, engine=_engine(engine), cache=False)
    except Exception as exc:  # the backends raise OSError, ValueError, KeyError, ...
        raise ValueError(f"{path}: cannot be read as a netCDF-4 brainio assembly ({type(exc).__name__}: {exc})") from None


def _data_variable(ds: xr.Dataset, path: Path) -> str:
    names = list(ds.data_vars)
    if len(names) != 1:
        raise ValueError(
            f"{path}: a brainio assembly holds exactly one data variable (named {' or '.join(DATA_VARIABLES)}); "
            f"found {len(names)}: {_preview(names) or 'none'} (coordinates: {_preview(list(ds.coords))})"
        )
    return str(names[0])


def _text(values: np.ndarray) -> np.ndarray:
    """Bytes decoded to str; other values unchanged."""
    if values.dtype.kind == "S" or (values.dtype == object and values.size and isinstance(values.flat[0], bytes)):
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in values], dtype=object)
    return values


def _coordinate_table(ds: xr.Dataset, dim: str) -> pd.DataFrame:
    """The 1-D coordinates on ``dim`` as columns, in file order (brainio's reset multi-index)."""
    columns = {str(name): _text(np.asarray(coord.values)) for name, coord in ds.coords.items() if coord.dims == (dim,)}
    return pd.DataFrame(columns, index=pd.RangeIndex(ds.sizes[dim]))


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True, eq=False)
class AssemblyInfo:
    """Layout and metadata of a data assembly; no response is read.

    ``presentations``: one row per presentation in file order (``stimulus_id`` added
    from ``image_id`` when absent). ``neuroids``: one row per neuroid. ``time_bins``:
    one row per bin (``time_bin_start``/``time_bin_end`` in ms, when the file has them);
    no rows when the file has no ``time_bin`` dimension.
    """

    path: Path
    variable: str
    dims: tuple[str, ...]  # on-disk order
    shape: tuple[int, ...]
    dtype: np.dtype
    presentations: pd.DataFrame
    neuroids: pd.DataFrame
    time_bins: pd.DataFrame

    @property
    def animal_coord(self) -> str | None:
        """The neuroid coordinate naming the animal (see :data:`ANIMAL_COORDS`), or None."""
        return next((c for c in ANIMAL_COORDS if c in self.neuroids.columns), None)

    @property
    def neuroid_key_columns(self) -> tuple[str, ...]:
        """(animal, neuroid_id): Papale2025's neuroid_id restarts per monkey."""
        return ((self.animal_coord,) if self.animal_coord else ()) + ("neuroid_id",)

    def size(self, dim: str) -> int:
        return self.shape[self.dims.index(dim)] if dim in self.dims else 1


def _check_dims(dims: tuple[str, ...], path: Path) -> None:
    unknown = [d for d in dims if d not in _DIMS]
    if len(dims) == 1 and unknown:
        raise ValueError(
            f"{path}: dims {dims} make a 1-D metadata assembly, not a data assembly with dims "
            f"(presentation, neuroid[, time_bin]); read its table with read_metadata_assembly()"
        )
    if unknown:
        raise ValueError(f"{path}: unknown dimension(s) {_preview(unknown)} (expected presentation, neuroid and optionally time_bin; found {dims})")
    missing = [d for d in (PRESENTATION, NEUROID) if d not in dims]
    if missing:
        raise ValueError(f"{path}: missing dimension(s) {', '.join(missing)} (found {dims}; expected presentation, neuroid[, time_bin])")


def assembly_info(path: Path | str, *, engine: str | None = None) -> AssemblyInfo:
    """Open a data assembly lazily and read its layout and 1-D coordinates.

    ``engine``: xarray's ``"netcdf4"`` (default when installed) or ``"h5netcdf"``.
    Errors, naming the file: not netCDF-4, not exactly one data variable (the ones
    found listed), unknown or missing dims, no ``stimulus_id``/``image_id`` on
    presentation, no ``neuroid_id`` on neuroid.
    """
    path = Path(path)
    with open_assembly(path, engine) as ds:
        variable = _data_variable(ds, path)
        var = ds[variable]
        dims = tuple(str(d) for d in var.dims)
        _check_dims(dims, path)
        presentations = _coordinate_table(ds, PRESENTATION)
        neuroids = _coordinate_table(ds, NEUROID)
        bins = _coordinate_table(ds, TIME_BIN) if TIME_BIN in dims else pd.DataFrame(index=pd.RangeIndex(0))
        shape, dtype = tuple(var.shape), np.dtype(var.dtype)
    if "stimulus_id" not in presentations.columns:
        if "image_id" not in presentations.columns:
            raise ValueError(f"{path}: no stimulus_id or image_id coordinate on presentation (found {_preview(list(presentations.columns))})")
        presentations["stimulus_id"] = presentations["image_id"]  # old brainio files
    presentations["stimulus_id"] = presentations["stimulus_id"].astype(str)
    if "neuroid_id" not in neuroids.columns:
        raise ValueError(f"{path}: no neuroid_id coordinate on neuroid (found {_preview(list(neuroids.columns))})")
    return AssemblyInfo(path, variable, dims, shape, dtype, presentations, neuroids, bins)


def read_metadata_assembly(path: Path | str, *, engine: str | None = None) -> pd.DataFrame:
    """The table of a 1-D assembly (e.g. ``assy_*_extras.nc``, dim ``event``): its
    coordinates as columns and the data variable as a column of its own name.
    Errors (naming the file): not exactly one data variable, not 1-D."""
    path = Path(path)
    with open_assembly(path, engine) as ds:
        variable = _data_variable(ds, path)
        var = ds[variable]
        if var.ndim != 1:
            raise ValueError(f"{path}: a metadata assembly is 1-D; this one has dims {var.dims} (read it with assembly_info())")
        table = _coordinate_table(ds, str(var.dims[0]))
        table[variable] = var.values
    return table


# ------------------------------------------------------------------- time windows


def window_bins(info: AssemblyInfo, time_window: tuple[float, float] | None) -> np.ndarray:
    """Positions of the time bins averaged for ``time_window = (start, end)`` in ms.

    Rule: a bin [b_start, b_end) is used when it lies inside the window [start, end):
    ``start <= b_start`` and ``b_end <= end`` (Brain-Score's FreemanZiemba2013 keeps the
    1-ms bins (t, t + 1) for t in 50..199, i.e. window (50, 200); MajajHong2015 has one
    bin, (70, 170)). ``None``: every bin (and a file without ``time_bin`` has one
    implicit bin). Errors, naming the file: a window on a file without time bins or
    without ``time_bin_start``/``time_bin_end``, a window holding no bin (the bins listed).
    """
    n = info.size(TIME_BIN)
    if time_window is None:
        return np.arange(n)
    start, end = (float(t) for t in time_window)
    if not start < end:
        raise ValueError(f"{info.path}: time window ({start}, {end}) ms is empty (start must be before end)")
    if TIME_BIN not in info.dims:
        raise ValueError(f"{info.path}: has no time_bin dimension (dims {info.dims}); pass time_window=None")
    missing = [c for c in ("time_bin_start", "time_bin_end") if c not in info.time_bins.columns]
    if missing:
        raise ValueError(f"{info.path}: time_bin has no {' or '.join(missing)} coordinate (found {_preview(list(info.time_bins.columns))})")
    b_start = info.time_bins["time_bin_start"].to_numpy(dtype=np.float64)
    b_end = info.time_bins["time_bin_end"].to_numpy(dtype=np.float64)
    inside = np.flatnonzero((b_start >= start) & (b_end <= end))
    if inside.size == 0:
        bins = [f"{s:g}-{e:g}" for s, e in zip(b_start, b_end)]
        raise ValueError(f"{info.path}: no time bin lies inside the window [{start:g}, {end:g}) ms; bins (ms): {_preview(bins, 10)}")
    return inside


# ------------------------------------------------------------------------ writing


def _coords(table: Mapping[str, Sequence] | pd.DataFrame, dim: str, n: int, path: Path) -> dict[str, tuple]:
    out = {}
    for name, values in (table.items() if isinstance(table, Mapping) else table.to_dict("series").items()):
        values = np.asarray(values)
        if values.dtype.kind in "OUS":  # netCDF-4 variable-length strings, as brainio writes them
            values = np.array([str(v) for v in values], dtype=object)
        if values.shape != (n,):
            raise ValueError(f"{path}: coordinate {name!r} on {dim} has shape {values.shape}; expected ({n},)")
        if str(name) in _DIMS:
            raise ValueError(f"{path}: coordinate {name!r} would be a dimension coordinate, which brainio files do not have")
        out[str(name)] = (dim, values)
    return out


def write_assembly(
    path: Path | str,
    data: np.ndarray,
    presentation_coords: Mapping[str, Sequence] | pd.DataFrame,
    neuroid_coords: Mapping[str, Sequence] | pd.DataFrame,
    time_bins: Sequence[tuple[float, float]] | None = None,
    name: str = "data",
    *,
    dims: Sequence[str] | None = None,
) -> Path:
    """Write ``data`` as a brainio assembly (netCDF-4): plain 1-D coordinates on each
    dimension, no dimension coordinate variables, one data variable ``name``.

    ``dims``: the axes of ``data`` in order (default presentation, neuroid[, time_bin]
    when ``time_bins`` is given); the file keeps this order. ``time_bins``: (start, end)
    ms pairs, written as ``time_bin_start``/``time_bin_end``. Written to a temporary
    file and renamed. Errors: shapes that disagree with the coordinates.
    """
    path = Path(path)
    data = np.asarray(data)
    dims = tuple(dims) if dims is not None else (PRESENTATION, NEUROID) + ((TIME_BIN,) if time_bins is not None else ())
    if data.ndim != len(dims):
        raise ValueError(f"{path}: data has {data.ndim} axes but dims {dims} name {len(dims)}")
    _check_dims(dims, path)
    if (TIME_BIN in dims) != (time_bins is not None):
        raise ValueError(f"{path}: time_bins must be given exactly when dims include time_bin (dims {dims})")
    size = dict(zip(dims, data.shape))
    coords = _coords(presentation_coords, PRESENTATION, size[PRESENTATION], path)
    coords.update(_coords(neuroid_coords, NEUROID, size[NEUROID], path))
    if time_bins is not None:
        edges = np.asarray(time_bins)
        if edges.shape != (size[TIME_BIN], 2):
            raise ValueError(f"{path}: time_bins has shape {edges.shape}; expected ({size[TIME_BIN]}, 2)")
        coords.update(_coords({"time_bin_start": edges[:, 0], "time_bin_end": edges[:, 1]}, TIME_BIN, size[TIME_BIN], path))
    array = xr.DataArray(data, dims=dims, coords=coords, name=name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        array.to_netcdf(tmp, engine="netcdf4" if netCDF4 is not None else "h5netcdf", format="NETCDF4")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
