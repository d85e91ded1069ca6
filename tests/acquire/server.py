"""A loopback STAC API and COG file server, plus writers of the files it serves.

Used by the tests in ``tests/acquire/`` and by ``benchmarks/acquire_loopback.py``; it never
contacts anything, and is contacted only on 127.0.0.1.

- :class:`LoopbackServer`: ``http.server`` in a thread on ``127.0.0.1`` (port 0) speaking the
  STAC API (landing page with conformance classes, ``/collections/{id}``, ``/search`` by POST
  and GET with ``next`` links), the Planetary Computer's SAS token endpoint
  (``/sas/token/{account}/{container}``), and static files with HTTP range requests (206,
  ``Content-Range``, exact ``Content-Length``) as GDAL's ``/vsicurl/`` needs. Faults can be
  injected per path.
- Blob mode (``blob_account=``): asset hrefs look like Azure Blob Storage URLs
  (``http://<account>.blob.core.windows.net/files/...``), the only URLs
  ``planetary_computer`` signs. The server is then also their HTTP proxy: with GDAL's
  ``GDAL_HTTP_PROXY`` set to :attr:`LoopbackServer.proxy`, GDAL sends those requests to
  127.0.0.1 in absolute form and never resolves the blob host.
- :func:`write_scene`: one Landsat-8 Collection 2 Level-2 scene as eight small COGs (seven
  SR bands, QA_PIXEL) with chosen NDVI and cloud / shadow / snow shares in the central
  +-960 m window, and its STAC item.
- :func:`write_dem`: a Copernicus-DEM-like EPSG:4326 COG tile holding an inclined plane of
  known percent slope, and its STAC item.
- :func:`write_terraclimate`: TerraClimate-like NetCDF files (one per variable, packed int16
  with scale factor and fill value) on a 1/24° grid.
"""

from __future__ import annotations

import copy
import json
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np

LANDSAT = "landsat-c2-l2"
DEM = "cop-dem-glo-30"
BAND_ASSETS = {
    "SR_B1": "coastal",
    "SR_B2": "blue",
    "SR_B3": "green",
    "SR_B4": "red",
    "SR_B5": "nir08",
    "SR_B6": "swir16",
    "SR_B7": "swir22",
}

# QA_PIXEL values (Collection 2 Level-2 bit layout).
QA_CLEAR = (1 << 6) | (1 << 8) | (1 << 10) | (1 << 12) | (1 << 14)  # 21824: clear, low confidences
QA_CLEAR_MEDIUM_CLOUD_CONF = (1 << 6) | (2 << 8) | (1 << 10) | (1 << 12) | (1 << 14)
QA_CLOUD = (1 << 3) | (3 << 8) | (1 << 10) | (1 << 12) | (1 << 14)
QA_SHADOW = (1 << 4) | (1 << 8) | (3 << 10) | (1 << 12) | (1 << 14)
QA_SNOW = (1 << 5) | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 14)
QA_FILL = 1

#: Reflectance of the bands other than red/NIR in written scenes.
BASE_REFLECTANCE = {"SR_B1": 0.05, "SR_B2": 0.06, "SR_B3": 0.08, "SR_B6": 0.25, "SR_B7": 0.18}
RED_REFLECTANCE = 0.10
WINDOW_HALF_M = 960.0
PIXEL_M = 30.0

_A, _E2 = 6_378_137.0, 6.69437999014e-3


def meridian_m_per_deg(lat: float) -> float:
    """Ground metres per degree of latitude at ``lat`` (WGS84)."""
    w = math.sqrt(1 - _E2 * math.sin(math.radians(lat)) ** 2)
    return _A * (1 - _E2) / w**3 * math.pi / 180


def reflectance_to_dn(r: float) -> int:
    """Inverse of ``DN * 2.75e-5 - 0.2``."""
    return int(round((r + 0.2) / 2.75e-5))


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def write_cog(
    path: Path, array: np.ndarray, crs: str, transform, nodata, blocksize: int = 128
) -> Path:
    """Write a single-band Cloud-Optimized GeoTIFF (DEFLATE, internal tiles of ``blocksize``)."""
    import rasterio

    path.parent.mkdir(parents=True, exist_ok=True)
    predictor = 3 if array.dtype.kind == "f" else 2
    with rasterio.open(
        path,
        "w",
        driver="COG",
        width=array.shape[1],
        height=array.shape[0],
        count=1,
        dtype=array.dtype.name,
        crs=crs,
        transform=transform,
        nodata=nodata,
        blocksize=blocksize,
        compress="deflate",
        predictor=predictor,
        overviews="NONE",
    ) as dst:
        dst.write(array, 1)
    return path


@dataclass
class SceneSpec:
    """One synthetic Landsat-8 scene centred on a point.

    Attributes:
        scene_id: STAC item id.
        date: acquisition date ``YYYY-MM-DD``.
        lon, lat: the point the scene is centred on (EPSG:4326).
        ndvi: NDVI of every pixel (red reflectance 0.10, NIR chosen to match).
        cloud, shadow, snow: shares of the central +-960 m window flagged with high confidence.
        medium_cloud_conf: clear pixels carry *medium* cloud confidence without the cloud bit
            (the original downloader counted such pixels as cloud; soilnet must not).
        size_px: scene side in 30 m pixels (must exceed the 64 px window).
        blocksize: COG tile size (GDAL's COG driver needs at least 128).
        platform, tier: STAC properties.
        epsg: the scene's UTM zone.
        noise_dn: standard deviation of per-pixel noise added to the SR bands (DN).
    """

    scene_id: str
    date: str
    lon: float
    lat: float
    ndvi: float = 0.2
    cloud: float = 0.0
    shadow: float = 0.0
    snow: float = 0.0
    medium_cloud_conf: bool = True
    size_px: int = 256
    blocksize: int = 128
    platform: str = "landsat-8"
    tier: str = "T1"
    epsg: int = 32632
    noise_dn: float = 0.0


def scene_geometry(spec: SceneSpec):
    """(transform, bounds in lon/lat) of a scene centred on its point, on a 30 m UTM grid."""
    from rasterio.transform import from_origin
    from rasterio.warp import transform, transform_bounds

    xs, ys = transform("EPSG:4326", f"EPSG:{spec.epsg}", [spec.lon], [spec.lat])
    half = spec.size_px // 2
    left = round(xs[0] / PIXEL_M) * PIXEL_M - half * PIXEL_M
    top = round(ys[0] / PIXEL_M) * PIXEL_M + half * PIXEL_M
    tr = from_origin(left, top, PIXEL_M, PIXEL_M)
    right, bottom = left + spec.size_px * PIXEL_M, top - spec.size_px * PIXEL_M
    return tr, transform_bounds(f"EPSG:{spec.epsg}", "EPSG:4326", left, bottom, right, top)


def scene_qa(spec: SceneSpec) -> np.ndarray:
    """QA_PIXEL of a scene: clear everywhere, then cloud / shadow / snow rows in the window."""
    n = spec.size_px
    qa = np.full(
        (n, n), QA_CLEAR_MEDIUM_CLOUD_CONF if spec.medium_cloud_conf else QA_CLEAR, dtype=np.uint16
    )
    w = int(round(2 * WINDOW_HALF_M / PIXEL_M))
    r0 = c0 = n // 2 - w // 2
    row = r0
    for share, value in ((spec.cloud, QA_CLOUD), (spec.shadow, QA_SHADOW), (spec.snow, QA_SNOW)):
        k = int(round(share * w))
        qa[row : row + k, c0 : c0 + w] = value
        row += k
    return qa


def scene_item(spec: SceneSpec, hrefs: dict[str, str]) -> dict:
    """The STAC item of a scene (asset hrefs relative to the server, e.g. ``/files/...``)."""
    _, (w, s, e, n) = scene_geometry(spec)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": spec.scene_id,
        "collection": LANDSAT,
        "bbox": [w, s, e, n],
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {
            "datetime": f"{spec.date}T10:30:00Z",
            "platform": spec.platform,
            "landsat:collection_category": spec.tier,
            "proj:epsg": spec.epsg,
            "eo:cloud_cover": round(100 * spec.cloud, 1),
        },
        "assets": {
            key: {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized"}
            for key, href in hrefs.items()
        },
        "links": [],
    }


def write_scene(root: Path, spec: SceneSpec, *, seed: int = 0) -> dict:
    """Write a scene's eight COGs under ``root/<scene_id>/`` and return its STAC item."""
    tr, _ = scene_geometry(spec)
    n = spec.size_px
    crs = f"EPSG:{spec.epsg}"
    rng = np.random.default_rng(seed)
    nir = RED_REFLECTANCE * (1 + spec.ndvi) / (1 - spec.ndvi)
    reflect = {**BASE_REFLECTANCE, "SR_B4": RED_REFLECTANCE, "SR_B5": nir}
    hrefs = {}
    for band, asset in BAND_ASSETS.items():
        dn = np.full((n, n), reflectance_to_dn(reflect[band]), dtype=np.float64)
        if spec.noise_dn:
            dn += rng.normal(0, spec.noise_dn, (n, n))
        name = f"{spec.scene_id}/{spec.scene_id}_{band}.TIF"
        write_cog(root / name, np.clip(dn, 1, 65535).astype(np.uint16), crs, tr, 0, spec.blocksize)
        hrefs[asset] = f"/files/{name}"
    name = f"{spec.scene_id}/{spec.scene_id}_QA_PIXEL.TIF"
    write_cog(root / name, scene_qa(spec), crs, tr, 1, spec.blocksize)
    hrefs["qa_pixel"] = f"/files/{name}"
    return scene_item(spec, hrefs)


def dem_elevation(lat: np.ndarray, *, z0: float, slope_pct: float, lat0: float) -> np.ndarray:
    """Elevation of the test plane: rises ``slope_pct`` % northwards from ``z0`` m at ``lat0``."""
    return z0 + slope_pct / 100.0 * (np.asarray(lat) - lat0) * meridian_m_per_deg(lat0)


def write_dem(
    root: Path,
    tile_id: str,
    bounds: tuple[float, float, float, float],
    *,
    res_deg: float = 1 / 3600,
    z0: float = 200.0,
    slope_pct: float = 5.0,
    lat0: float = 50.0,
    blocksize: int = 256,
) -> dict:
    """Write an EPSG:4326 DEM tile (float32) holding the plane of :func:`dem_elevation`.

    Returns:
        Its STAC item (asset ``data``).
    """
    from rasterio.transform import from_origin

    w, s, e, n = bounds
    width, height = int(round((e - w) / res_deg)), int(round((n - s) / res_deg))
    lat = n - (np.arange(height) + 0.5) * res_deg
    z = np.repeat(
        dem_elevation(lat, z0=z0, slope_pct=slope_pct, lat0=lat0)[:, None], width, axis=1
    ).astype(np.float32)
    name = f"dem/{tile_id}.tif"
    write_cog(root / name, z, "EPSG:4326", from_origin(w, n, res_deg, res_deg), None, blocksize)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": tile_id,
        "collection": DEM,
        "bbox": [w, s, e, n],
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {"datetime": "2021-04-22T00:00:00Z"},
        "assets": {
            "data": {
                "href": f"/files/{name}",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            }
        },
        "links": [],
    }


def climate_value(var: str, t: int, row: int, col: int, month: int) -> float:
    """The value written for a variable at month index ``t`` and cell (row, col)."""
    if var == "swe":
        return 0.0 if month in range(3, 12) else 5.0 + 0.1 * (row % 3)
    base = {"pr": 50.0, "tmmx": 10.0, "aet": 30.0}.get(var, 20.0)
    return round(base + 0.5 * t + 0.1 * (row % 10) + 0.01 * (col % 10), 2)


def write_terraclimate(
    root: Path,
    variables,
    bounds: tuple[float, float, float, float],
    *,
    start: str = "2009-01",
    end: str = "2015-12",
    sea_cells: tuple[tuple[float, float], ...] = (),
) -> str:
    """Write ``root/<var>.nc`` per variable (NetCDF-3, int16 packed, scale 0.01, fill -32768).

    The grid is TerraClimate's 1/24° (cell centres at odd multiples of 1/48°), latitude
    descending. ``sea_cells`` (lon, lat) mark the cells containing those points as fill (no
    data in any month), like sea cells of the real product.

    Returns:
        The source template ``root/{var}.nc``.
    """
    import pandas as pd
    import xarray as xr

    step = 1 / 24
    w, s, e, n = bounds
    lon = np.arange(math.floor(w / step) * step + step / 2, e, step)
    lat = np.arange(math.ceil(n / step) * step - step / 2, s, -step)
    time = pd.date_range(f"{start}-01", f"{end}-01", freq="MS")
    root.mkdir(parents=True, exist_ok=True)
    for var in variables:
        data = np.empty((time.size, lat.size, lon.size), dtype=np.float64)
        for t, stamp in enumerate(time):
            for r in range(lat.size):
                for c in range(lon.size):
                    data[t, r, c] = climate_value(var, t, r, c, stamp.month)
        for x, y in sea_cells:
            data[:, int(np.abs(lat - y).argmin()), int(np.abs(lon - x).argmin())] = np.nan
        ds = xr.Dataset(
            {var: (("time", "lat", "lon"), data)}, coords={"time": time, "lat": lat, "lon": lon}
        )
        encoding = {
            var: {"dtype": "int16", "scale_factor": 0.01, "add_offset": 0.0, "_FillValue": -32768},
            "time": {"units": "days since 1900-01-01", "calendar": "standard"},
        }
        ds.to_netcdf(root / f"{var}.nc", engine="scipy", encoding=encoding)
    return str(root / "{var}.nc")


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


def _bbox_of(item: dict) -> list[float]:
    return item["bbox"]


def _intersects(a: list[float], b: list[float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


#: SAS token answered by the loopback token endpoint (the file server checks ``sig=loopback``).
SAS_TOKEN = "st=2015-01-01&se=2100-01-01&sp=rl&sig=loopback"
#: Conformance classes of the landing page (as the Planetary Computer's STAC API declares).
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0/collections",
]


class LoopbackServer:
    """STAC API + range-request file server on 127.0.0.1 (see the module docstring).

    Args:
        root: folder of the files served under ``/files/``.
        items: STAC items (asset hrefs starting with ``/`` are made absolute on the fly).
        require_signature: answer 403 to file requests without ``sig=loopback`` in the query
            (tests signing).
        aliases: ``/files/`` paths mapped to other files under ``root`` (the benchmark gives
            every scene its own URLs while storing the band files once).
        blob_account: serve asset hrefs as Azure Blob Storage URLs of this storage account
            (container ``files``), reached through the server as a proxy.

    Attributes:
        log: one dict per request (method, path and query, status, bytes, range, and
            ``proxied``: whether the request came in absolute form, i.e. through the proxy).
    """

    def __init__(
        self,
        root: Path,
        items: list[dict],
        *,
        require_signature: bool = False,
        aliases: dict[str, str] | None = None,
        blob_account: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.items = items
        self.require_signature = require_signature
        self.aliases = aliases or {}
        self.blob_account = blob_account
        self.collections = sorted({it["collection"] for it in items} | {LANDSAT, DEM})
        self.log: list[dict] = []
        self._faults: list[list] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------
    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def stac_url(self) -> str:
        return f"{self.url}/stac"

    @property
    def sas_url(self) -> str:
        """Token endpoint root, as ``planetary_computer``'s ``sas_url`` setting expects."""
        return f"{self.url}/sas/token"

    @property
    def proxy(self) -> str:
        """``127.0.0.1:<port>``, for ``GDAL_HTTP_PROXY`` in blob mode."""
        return self.url.removeprefix("http://")

    @property
    def blob_root(self) -> str | None:
        """``http://<account>.blob.core.windows.net`` in blob mode, else None."""
        return f"http://{self.blob_account}.blob.core.windows.net" if self.blob_account else None

    def fail(self, fragment: str, status: int = 503, times: int | None = None) -> None:
        """Answer ``status`` to requests whose path holds ``fragment`` (``times`` times, or all)."""
        with self._lock:
            self._faults.append([fragment, status, times])

    def _fault_for(self, path: str) -> int | None:
        with self._lock:
            for fault in self._faults:
                fragment, status, times = fault
                if fragment in path and (times is None or times > 0):
                    if times is not None:
                        fault[2] = times - 1
                    return status
        return None

    def bytes_sent(self, prefix: str = "/files/") -> int:
        """Body bytes sent for paths starting with ``prefix``."""
        return sum(r["bytes"] for r in self.log if r["path"].startswith(prefix))

    # -- STAC --------------------------------------------------------------------------------
    def absolute(self, item: dict) -> dict:
        item = copy.deepcopy(item)
        for asset in item.get("assets", {}).values():
            if asset["href"].startswith("/"):
                asset["href"] = (self.blob_root or self.url) + asset["href"]
        item["links"] = [
            {
                "rel": "self",
                "href": f"{self.stac_url}/collections/{item['collection']}/items/{item['id']}",
            }
        ]
        return item

    def landing_page(self) -> dict:
        search = {
            "rel": "search",
            "type": "application/geo+json",
            "href": f"{self.stac_url}/search",
        }
        return {
            "type": "Catalog",
            "id": "loopback",
            "stac_version": "1.0.0",
            "description": "loopback STAC API for soilnet's acquisition tests",
            "conformsTo": CONFORMANCE,
            "links": [
                {"rel": "self", "type": "application/json", "href": self.stac_url},
                {"rel": "root", "type": "application/json", "href": self.stac_url},
                {"rel": "data", "type": "application/json", "href": f"{self.stac_url}/collections"},
                {**search, "method": "GET"},
                {**search, "method": "POST"},
            ],
        }

    def collection(self, cid: str) -> dict:
        """A minimal valid STAC collection; in blob mode it names its storage container."""
        extra = (
            {"msft:storage_account": self.blob_account, "msft:container": "files"}
            if self.blob_account
            else {}
        )
        return {
            "type": "Collection",
            "id": cid,
            "stac_version": "1.0.0",
            "description": f"loopback {cid}",
            "license": "proprietary",
            "extent": {
                "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
                "temporal": {"interval": [["2013-01-01T00:00:00Z", None]]},
            },
            "links": [],
            **extra,
        }

    def search(self, params: dict, method: str) -> dict:
        collections = params.get("collections") or []
        if isinstance(collections, str):
            collections = collections.split(",")
        bbox = params.get("bbox")
        if isinstance(bbox, str):
            bbox = [float(v) for v in bbox.split(",")]
        intersects = params.get("intersects")
        if isinstance(intersects, str):
            intersects = json.loads(intersects)
        if intersects:
            if intersects.get("type") != "Point":
                raise ValueError("the loopback server only handles Point geometries")
            x, y = intersects["coordinates"]
            bbox = [x, y, x, y]
        window = params.get("datetime")
        t0 = t1 = None
        if window:
            a, _, b = window.partition("/")
            t0 = _parse_time(a) if a not in ("", "..") else None
            t1 = _parse_time(b) if b not in ("", "..") else None
        query = params.get("query") or {}
        if isinstance(query, str):
            query = json.loads(query)
        hits = []
        for item in self.items:
            if collections and item["collection"] not in collections:
                continue
            if bbox and not _intersects(_bbox_of(item), bbox):
                continue
            when = _parse_time(item["properties"]["datetime"])
            if (t0 and when < t0) or (t1 and when > t1):
                continue
            ok = True
            for prop, ops in query.items():
                value = item["properties"].get(prop)
                if value is None:
                    continue  # like a server without the property
                if "eq" in ops and value != ops["eq"]:
                    ok = False
                if "in" in ops and value not in ops["in"]:
                    ok = False
            if ok:
                hits.append(item)
        limit = int(params.get("limit", 10))
        offset = int(params.get("token", 0) or 0)
        page = hits[offset : offset + limit]
        links = []
        if offset + limit < len(hits):
            if method == "POST":
                links.append(
                    {
                        "rel": "next",
                        "href": f"{self.stac_url}/search",
                        "method": "POST",
                        "body": {**params, "token": offset + limit},
                        "merge": False,
                    }
                )
            else:
                query_params = {
                    k: (v if isinstance(v, str) else json.dumps(v)) for k, v in params.items()
                }
                query_params["token"] = str(offset + limit)
                links.append(
                    {
                        "rel": "next",
                        "href": f"{self.stac_url}/search?{urlencode(query_params)}",
                        "method": "GET",
                    }
                )
        return {
            "type": "FeatureCollection",
            "features": [self.absolute(it) for it in page],
            "links": links,
            "numberMatched": len(hits),
            "numberReturned": len(page),
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: LoopbackServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):  # the client closed a kept-alive connection
            pass

    def _record(self, status: int, nbytes: int, rng: str | None = None) -> None:
        parts = urlsplit(self.path)
        self.server_state.log.append(
            {
                "method": self.command,
                "path": parts.path + (f"?{parts.query}" if parts.query else ""),
                "status": status,
                "bytes": nbytes,
                "range": rng,
                "proxied": bool(parts.netloc),
            }
        )

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict | None = None,
    ) -> None:
        # Recorded before the reply: a client that has its answer must find its request logged.
        self._record(status, len(body) if self.command != "HEAD" else 0, self.headers.get("Range"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: dict, status: int = 200) -> None:
        self._send(status, json.dumps(payload).encode())

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        state = self.server_state
        parts = urlsplit(self.path)
        path = parts.path
        body = b""
        if self.command == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        fault = state._fault_for(self.path)
        if fault is not None:
            self._send(fault, b'{"error": "injected fault"}')
            return
        if path in ("/stac", "/stac/"):
            self._json(state.landing_page())
        elif path.startswith("/stac/collections/"):
            cid = path.rstrip("/").rsplit("/", 1)[1]
            if cid in state.collections:
                self._json(state.collection(cid))
            else:
                self._json({"code": "NotFound", "description": f"no collection {cid}"}, 404)
        elif path == "/stac/search":
            if self.command == "POST":
                params = json.loads(body or b"{}")
            else:
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            try:
                self._json(state.search(params, self.command))
            except (ValueError, KeyError) as err:
                self._json({"code": "BadRequest", "description": str(err)}, 400)
        elif path.startswith("/sas/token/"):
            expiry = datetime(2100, 1, 1, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._json({"msft:expiry": expiry, "token": SAS_TOKEN})
        elif path.startswith("/files/"):
            self._file(path[len("/files/") :], parts.query)
        else:
            self._json({"code": "NotFound"}, 404)

    def _file(self, rel: str, query: str) -> None:
        state = self.server_state
        if state.require_signature and "sig=loopback" not in query:
            self._send(403, b"<Error>AuthenticationFailed: no signature</Error>", "application/xml")
            return
        target = (state.root / state.aliases.get(rel, rel)).resolve()
        if state.root.resolve() not in target.parents or not target.is_file():
            self._send(404, b"<Error>BlobNotFound</Error>", "application/xml")
            return
        size = target.stat().st_size
        rng = self.headers.get("Range")
        if not rng:
            data = target.read_bytes() if self.command != "HEAD" else b""
            self._record(200, len(data))
            self.send_response(200)
            self.send_header("Content-Type", "image/tiff")
            self.send_header("Content-Length", str(size))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            return
        spec = rng.split("=", 1)[1].split(",")[0].strip()
        a, _, b = spec.partition("-")
        if a == "":
            start, end = max(size - int(b), 0), size - 1
        else:
            start, end = int(a), min(int(b) if b else size - 1, size - 1)
        if start >= size:
            self._send(416, b"", "image/tiff", {"Content-Range": f"bytes */{size}"})
            return
        with open(target, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start + 1)
        self._record(206, len(data) if self.command != "HEAD" else 0, rng)
        self.send_response(206)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
