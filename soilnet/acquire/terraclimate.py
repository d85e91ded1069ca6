"""TerraClimate monthly values at points, read lazily with xarray.

TerraClimate (Abatzoglou et al. 2018, doi:10.1038/sdata.2017.191) is a 1/24° (~4 km) global
monthly grid. Its public archive serves one file per variable, either as an OPeNDAP
aggregation over all years (the default, :data:`DEFAULT_TERRACLIMATE_URL`) or as one NetCDF
file per variable and year. A *source template* names either:

- ``{var}`` only: one file or OPeNDAP URL per variable holding every month;
- ``{var}`` and ``{year}``: one file per variable and year (e.g. local copies of
  ``TerraClimate_{var}_{year}.nc``).

The dataset is opened lazily (no data are read on open). Points are grouped into blocks of
grid cells and each block's bounding box is read once over the requested months, so only the
cells near the points travel. Each point takes the **nearest** cell (``method="nearest"``);
where that cell has no value in any requested month (a coastal point on a sea cell) the
nearest cell with data within ``max_shift_cells`` is used instead and the distance is reported.
Values are decoded (scale and offset applied, fill values become NaN): a true zero stays
0, unlike the original Earth Engine export, which wrote zeros as ``-999``.
"""

from __future__ import annotations

import importlib.util
import io
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.errors import AcquisitionError, first_ids

#: Public OPeNDAP aggregation (1958 to the current year) at the University of Idaho's THREDDS.
DEFAULT_TERRACLIMATE_URL = (
    "http://thredds.northwestknowledge.net:8080/thredds/dodsC/"
    "agg_terraclimate_{var}_1958_CurrentYear_GLOBE.nc"
)
_LAT_NAMES = ("lat", "latitude", "y")
_LON_NAMES = ("lon", "longitude", "x")
_KM_PER_DEG = 111.195


def month_labels(start: str, end: str) -> list[str]:
    """Month labels ``YYYYMM01`` from ``start`` to ``end`` inclusive.

    Args:
        start, end: ``YYYY-MM`` (e.g. ``"2010-01"`` and ``"2015-01"``: 61 months).

    Raises:
        ValueError: a malformed month or ``end`` before ``start``.
    """
    if not all(
        isinstance(m, str) and re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", m) for m in (start, end)
    ):
        raise ValueError(
            f"Months must be YYYY-MM (e.g. 2010-01); got start={start!r}, end={end!r}."
        )
    first, last = pd.Period(start, "M"), pd.Period(end, "M")
    if last < first:
        raise ValueError(f"The end month {end} is before the start month {start}.")
    return [p.strftime("%Y%m01") for p in pd.period_range(first, last, freq="M")]


def is_opendap(source: str) -> bool:
    """Whether ``source`` is an OPeNDAP URL (THREDDS ``/dodsC/`` or ``dods://``)."""
    return source.startswith("dods://") or "/dodsC/" in source


def source_for(template: str, var: str, year: int | None = None) -> str:
    """Fill a source template with a variable (and a year where the template has one)."""
    if "{var}" not in template:
        raise ValueError(
            f"The TerraClimate source template must contain '{{var}}'; got {template!r} "
            f"(e.g. {DEFAULT_TERRACLIMATE_URL!r})."
        )
    return template.format(var=var, year=year) if "{year}" in template else template.format(var=var)


class _HttpFile(io.RawIOBase):
    """A read-only, seekable file over HTTP range requests (for NetCDF files served as files)."""

    def __init__(self, url: str, client) -> None:
        self.url = url
        self.client = client
        head = client.request("GET", url, what="TerraClimate file", headers={"Range": "bytes=0-0"})
        total = head.headers.get("Content-Range", "").rpartition("/")[2]
        if not total.isdigit():
            raise AcquisitionError(
                f"{url} does not support HTTP range requests (no Content-Range); download the "
                "file and pass its local path in --terraclimate-url."
            )
        self.size = int(total)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.size - self.pos)
        if n <= 0:
            return 0
        r = self.client.request(
            "GET",
            self.url,
            what="TerraClimate read",
            headers={"Range": f"bytes={self.pos}-{self.pos + n - 1}"},
        )
        data = r.content[:n]
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def _engine_for(source: str, magic: bytes) -> str:
    if magic.startswith(b"CDF"):
        return "scipy"
    if magic.startswith(b"\x89HDF"):
        if importlib.util.find_spec("h5py") is not None:
            return "h5netcdf"
        if importlib.util.find_spec("netCDF4") is not None:
            return "netcdf4"
        raise AcquisitionError(
            f"{source} is a NetCDF-4 (HDF5) file; reading it needs h5py or netCDF4, neither of "
            "which is installed. Install one (`pip install h5py` or `conda install -c "
            "conda-forge h5py`)."
        )
    raise AcquisitionError(f"{source} is not a NetCDF file (it starts with {magic[:8]!r}).")


def open_source(source: str, client=None):
    """Open one TerraClimate source lazily as an :class:`xarray.Dataset`.

    Args:
        source: a local path, an http(s) URL of a NetCDF file (read by range requests), or an
            OPeNDAP URL (needs the netCDF4 or pydap package).
        client: :class:`soilnet.acquire.transport.HttpClient` for http(s) files (default: a new one).

    Raises:
        AcquisitionError: the source cannot be found or reached, or no installed engine can
            read it; the message names the source and what to do.
    """
    import xarray as xr

    if is_opendap(source):
        engine = next(
            (
                e
                for e, mod in (("netcdf4", "netCDF4"), ("pydap", "pydap"))
                if importlib.util.find_spec(mod)
            ),
            None,
        )
        if engine is None:
            raise AcquisitionError(
                f"Reading the OPeNDAP URL {source} needs the netCDF4 or pydap package, and neither "
                "is installed. Install one (`pip install netCDF4`, or `conda install -c "
                "conda-forge netcdf4`), or download the TerraClimate files and pass a local "
                "template such as --terraclimate-url '/data/TerraClimate_{var}_{year}.nc'."
            )
        try:
            return xr.open_dataset(source, engine=engine, cache=False)
        except OSError as err:
            raise AcquisitionError(
                f"Cannot open the TerraClimate OPeNDAP URL {source} ({err}). Check the internet "
                "connection and proxy, that the server is up (open the URL + '.html' in a "
                "browser), or pass --terraclimate-url with another source."
            ) from err
    if source.startswith(("http://", "https://")):
        from soilnet.acquire.transport import HttpClient

        raw = _HttpFile(source, client or HttpClient())
        fileobj = io.BufferedReader(raw, buffer_size=1 << 20)
        engine = _engine_for(source, fileobj.peek(8)[:8])
        return xr.open_dataset(fileobj, engine=engine, cache=False)
    path = Path(source).expanduser()
    if not path.is_file():
        raise AcquisitionError(
            f"TerraClimate file {path} does not exist. Check --terraclimate-url (a template with "
            "{var} and optionally {year}), or use the default OPeNDAP source."
        )
    with open(path, "rb") as fh:
        magic = fh.read(8)
    return xr.open_dataset(path, engine=_engine_for(str(path), magic), cache=False)


def _coord_name(da, names: Sequence[str], source: str) -> str:
    for name in names:
        if name in da.dims:
            return name
    raise AcquisitionError(
        f"{source}: no {names[0]} dimension (dims: {', '.join(map(str, da.dims))})."
    )


def _data_array(ds, var: str, source: str):
    if var in ds.data_vars:
        return ds[var]
    gridded = [v for v in ds.data_vars if ds[v].ndim == 3]
    if len(gridded) == 1:
        return ds[gridded[0]]
    raise AcquisitionError(
        f"{source}: no variable '{var}' (it has: {', '.join(map(str, ds.data_vars))}); check that "
        "the template's {var} field fills in the TerraClimate variable name."
    )


def _nearest(coord: np.ndarray, name: str, values: np.ndarray) -> np.ndarray:
    """Index of the nearest coordinate value, through xarray's ``method="nearest"``."""
    import xarray as xr

    pos = xr.DataArray(np.arange(coord.size), dims=name, coords={name: coord})
    return pos.sel({name: xr.DataArray(values, dims="point")}, method="nearest").values.astype(
        np.int64
    )


@dataclass
class ClimateExtraction:
    """Monthly values of many points.

    Attributes:
        values: float32 (N, T, F) points x months x variables; NaN where the source has none.
        months: T labels ``YYYYMM01``.
        variables: F names.
        cell_km: float (N,) the largest distance (km) between a point and the centre of the
            cell its values came from, over the variables (about 2 km or less for the nearest
            cell; larger when a neighbouring cell had to be used).
        cells_read: grid cells x months read, over all variables.
    """

    values: np.ndarray
    months: list[str]
    variables: list[str]
    cell_km: np.ndarray
    cells_read: int


def extract_points(
    template: str,
    variables: Sequence[str],
    lon: np.ndarray,
    lat: np.ndarray,
    months: Sequence[str],
    *,
    block_cells: int = 32,
    max_shift_cells: int = 1,
    client=None,
    progress: bool = False,
) -> ClimateExtraction:
    """Extract TerraClimate monthly values at points.

    Args:
        template: source template (see the module docstring).
        variables: TerraClimate variable names (e.g. :data:`soilnet.bands.CLIMATE_VARIABLES`).
        lon, lat: float (N,) EPSG:4326 degrees.
        months: labels ``YYYYMM01`` (see :func:`month_labels`).
        block_cells: points whose nearest cells fall in the same ``block_cells`` x
            ``block_cells`` block are read together (one hyperslab request per block).
        max_shift_cells: how far (in cells) to look for data when the nearest cell has none.
        client: HTTP client for http(s) sources.
        progress: show a tqdm bar over variables.

    Returns:
        A :class:`ClimateExtraction`.

    Raises:
        AcquisitionError: a source is missing, unreadable, or lacks some of the months.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    months = list(months)
    values = np.full((lon.size, len(months), len(variables)), np.nan, dtype=np.float32)
    cell_km = np.zeros(lon.size)
    cells_read = 0
    by_year: dict[int | None, list[int]] = defaultdict(list)
    for t, label in enumerate(months):
        by_year[int(label[:4]) if "{year}" in template else None].append(t)
    iterator = list(enumerate(variables))
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="climate", unit="var")
    for k, var in iterator:
        for year, positions in by_year.items():
            source = source_for(template, var, year)
            ds = open_source(source, client)
            try:
                block, km, n = _extract_one(
                    ds,
                    var,
                    source,
                    lon,
                    lat,
                    [months[t] for t in positions],
                    block_cells,
                    max_shift_cells,
                )
            finally:
                ds.close()
            values[:, positions, k] = block
            cell_km = np.maximum(cell_km, km)
            cells_read += n
    return ClimateExtraction(values, months, list(variables), cell_km, cells_read)


def _extract_one(ds, var, source, lon, lat, months, block_cells, max_shift_cells):
    da = _data_array(ds, var, source)
    lat_name = _coord_name(da, _LAT_NAMES, source)
    lon_name = _coord_name(da, _LON_NAMES, source)
    time_name = next((d for d in da.dims if d not in (lat_name, lon_name)), None)
    if time_name is None:
        raise AcquisitionError(f"{source}: variable {da.name} has no time dimension.")
    stamps = da[time_name]
    labels = [
        f"{y:04d}{m:02d}01"
        for y, m in zip(stamps.dt.year.values, stamps.dt.month.values, strict=True)
    ]
    where = {label: i for i, label in enumerate(labels)}
    absent = [m for m in months if m not in where]
    if absent:
        span = f"{labels[0]}…{labels[-1]}" if labels else "no months"
        raise AcquisitionError(
            f"{source}: month(s) {first_ids(absent)} are not in the file (it covers {span}); "
            "choose --start/--end inside that range or another --terraclimate-url."
        )
    t_idx = np.array([where[m] for m in months])
    t0, t1 = int(t_idx.min()), int(t_idx.max()) + 1

    lat_c = np.asarray(da[lat_name].values, dtype=np.float64)
    lon_c = np.asarray(da[lon_name].values, dtype=np.float64)
    lon_q = np.where(lon < 0, lon + 360.0, lon) if lon_c.max() > 180 else lon
    rows = _nearest(lat_c, lat_name, lat)
    cols = _nearest(lon_c, lon_name, lon_q)
    d_lat = abs(float(lat_c[1] - lat_c[0])) if lat_c.size > 1 else 1.0
    d_lon = abs(float(lon_c[1] - lon_c[0])) if lon_c.size > 1 else 1.0
    inside = (np.abs(lat_c[rows] - lat) <= d_lat) & (np.abs(lon_c[cols] - lon_q) <= d_lon)

    out = np.full((lat.size, len(months)), np.nan, dtype=np.float32)
    km = np.zeros(lat.size)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in np.flatnonzero(inside):
        groups[(rows[i] // block_cells, cols[i] // block_cells)].append(int(i))
    m = max_shift_cells
    cells = 0
    da_t = da.transpose(time_name, lat_name, lon_name)
    for members in groups.values():
        r = rows[members]
        c = cols[members]
        r0, r1 = max(int(r.min()) - m, 0), min(int(r.max()) + m + 1, lat_c.size)
        c0, c1 = max(int(c.min()) - m, 0), min(int(c.max()) + m + 1, lon_c.size)
        cube = np.asarray(
            da_t.isel(
                {time_name: slice(t0, t1), lat_name: slice(r0, r1), lon_name: slice(c0, c1)}
            ).values,
            dtype=np.float32,
        )[t_idx - t0]
        cells += cube.size
        has_data = np.isfinite(cube).any(axis=0)
        for i in members:
            rr, cc = rows[i] - r0, cols[i] - c0
            best = None
            for dr in range(-m, m + 1):
                for dc in range(-m, m + 1):
                    y, x = rr + dr, cc + dc
                    if (
                        not (0 <= y < cube.shape[1] and 0 <= x < cube.shape[2])
                        or not has_data[y, x]
                    ):
                        continue
                    dist = math.hypot(
                        (lat_c[r0 + y] - lat[i]) * _KM_PER_DEG,
                        (lon_c[c0 + x] - lon_q[i]) * _KM_PER_DEG * math.cos(math.radians(lat[i])),
                    )
                    if (dr, dc) == (0, 0):
                        dist = -1.0  # the nearest cell wins whenever it has data
                    if best is None or dist < best[0]:
                        best = (dist, y, x)
            if best is None:
                continue
            _, y, x = best
            out[i] = cube[:, y, x]
            km[i] = math.hypot(
                (lat_c[r0 + y] - lat[i]) * _KM_PER_DEG,
                (lon_c[c0 + x] - lon_q[i]) * _KM_PER_DEG * math.cos(math.radians(lat[i])),
            )
    return out, km, cells


def probe(template: str, variables: Sequence[str], months: Sequence[str], client=None) -> None:
    """Open the first variable's first source and check that the first and last months exist.

    Raises:
        AcquisitionError: naming the source and what to check.
    """
    if not variables:
        return
    years = sorted({int(m[:4]) for m in months}) if "{year}" in template else [None]
    source = source_for(template, variables[0], years[0])
    ds = open_source(source, client)
    try:
        wanted = [m for m in (months[0], months[-1]) if years[0] is None or int(m[:4]) == years[0]]
        _extract_one(ds, variables[0], source, np.array([0.0]), np.array([0.0]), wanted, 1, 0)
    finally:
        ds.close()
