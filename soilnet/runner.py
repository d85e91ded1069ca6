"""Execute the book's chapters with papermill and build the HTML with Jupyter Book.

``python -m soilnet book --profile smoke|default|paper [--data DIR]`` runs every notebook of
``notebooks/`` in order with that profile's parameters and writes the executed copies into a
staging copy of the book (``_build/book_src/``, laid out like the repository, so page paths and
the Binder/Colab launch buttons point at ``notebooks/*.ipynb``; the committed notebooks stay
without outputs). It removes the parameter cells from the rendered pages and builds HTML into
``_build/html`` with ``jupyter-book build -W -n --keep-going``: without these flags a failing
notebook or a broken reference would still exit 0.

The staged book also gets ``book/_generated/``: the profiles' settings and this build's record
(chapter times, peak memory, machine), which ``book/reproducibility.md`` includes, so the times a
reader sees are those of the build in front of them.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from soilnet.errors import ChapterFailed, ConfigurationError
from soilnet.workspace import CHAPTERS, MAP_CHAPTER, REPO_ROOT, TRAINING_CHAPTER

NOTEBOOKS = REPO_ROOT / "notebooks"
BOOK_FILES = ("_config.yml", "_toc.yml", "book")
HIDDEN_TAGS = {"parameters", "injected-parameters", "colab-install"}


def _venv_environment() -> None:
    """Put this interpreter's bin folder first on PATH so the kernel is this environment's."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def hide_parameter_cells(path: Path) -> None:
    """Tag the parameter, injected-parameter and Colab-install cells ``remove-cell``."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & HIDDEN_TAGS and "remove-cell" not in tags:
            cell.metadata["tags"] = sorted(tags | {"remove-cell"})
    nbformat.write(nb, path)


class PeakMemory:
    """Peak resident memory (GB) of this process's children (the notebook kernel), polled.

    psutil polling every ``interval_s``: a peak shorter than that can be missed.
    """

    def __init__(self, interval_s: float = 0.2):
        self.interval_s = interval_s
        self.peak_gb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:  # exited between listing and reading
                    pass
            self.peak_gb = max(self.peak_gb, total / 1e9)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def execute_chapter(
    number: int,
    parameters: dict,
    *,
    output_dir: Path,
    timeout_s: int | None = None,
    memory: PeakMemory | None = None,
) -> tuple[Path, float]:
    """Execute one chapter notebook with papermill; return (executed path, seconds).

    Args:
        memory: a :class:`PeakMemory` to poll the kernel with while the chapter runs.
    """
    import papermill as pm

    if number not in CHAPTERS:
        raise ConfigurationError(f"Unknown chapter {number}; chapters are {sorted(CHAPTERS)}.")
    _venv_environment()
    name = CHAPTERS[number]
    src = NOTEBOOKS / f"{name}.ipynb"
    dst = Path(output_dir) / f"{name}.ipynb"
    dst.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        if memory is not None:
            memory.__enter__()
        pm.execute_notebook(
            str(src),
            str(dst),
            parameters=parameters,
            cwd=str(REPO_ROOT),
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=timeout_s,
        )
    except pm.PapermillExecutionError as err:
        raise ChapterFailed(
            f"Chapter {number} ({src.name}) failed in cell {err.exec_count}: {err.ename}: {err.evalue}. "
            f"The executed notebook with the traceback is {dst}."
        ) from err
    finally:
        if memory is not None:
            memory.__exit__()
    hide_parameter_cells(dst)
    return dst, time.perf_counter() - start


def stage_book(staging: Path) -> Path:
    """Copy the book's pages and configuration beside the executed chapters."""
    staging.mkdir(parents=True, exist_ok=True)
    for name in BOOK_FILES:
        src, dst = REPO_ROOT / name, staging / name
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    return staging


def profiles_markdown() -> str:
    """The profiles' settings as a markdown table, read from :data:`soilnet.config.PROFILES`."""
    from soilnet.config import PROFILES
    from soilnet.reporting import epochs_text

    rows = [
        "| profile | twin points | patch | variants | training (both protocols) | spatial CV "
        "| map |",
        "| --- | ---: | ---: | --- | --- | --- | ---: |",
    ]
    for name, c in PROFILES.items():
        exp, train = c.experiment, c.train
        schedule = train.schedule
        if schedule == "step":
            schedule = f"StepLR ×{train.lr_gamma:g} every {train.lr_step_epochs} epochs"
        rows.append(
            f"| `{name}` | {c.twin.n_points:,} | {c.store.patch_size_px} px "
            f"| {', '.join(exp.variants)} | {epochs_text(exp)}, seeds "
            f"{', '.join(map(str, exp.seeds))}, Adam {train.lr:g} {schedule} "
            f"| {c.split.k_folds} folds of {c.split.block_km:g} km blocks: "
            f"{', '.join(exp.spatial_variants)} | {c.map.resolution_km:g} km |"
        )
    return "\n".join(rows) + "\n"


def build_record_markdown(timings: dict) -> str:
    """This build's record: date, machine, and each chapter's time and peak memory."""
    import torch

    from soilnet.workspace import CHAPTERS

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    lines = [
        f"Built on {time.strftime('%Y-%m-%d')} with profile `{timings['profile']}`: "
        f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), {gpu}, "
        f"Python {platform.python_version()}, torch {torch.__version__}. The same numbers are in "
        "the workspace's `timings.json`.",
        "",
        "| chapter | seconds | peak memory of the kernel (GB) |",
        "| --- | ---: | ---: |",
    ]
    names = {name: number for number, name in CHAPTERS.items()}
    for name, seconds in timings["chapters"].items():
        memory = timings.get("peak_memory_gb", {}).get(name)
        lines.append(
            f"| {names[name]}. {name} | {seconds:,.1f} | "
            f"{'' if memory is None else f'{memory:.2f}'} |"
        )
    total = sum(timings["chapters"].values())
    lines.append(f"| **all chapters** | **{total:,.1f}** ({total / 60:.1f} min) | |")
    return "\n".join(lines) + "\n"


def write_generated_pages(staging: Path, timings: dict | None) -> None:
    """Write ``book/_generated/`` of the staged book (included by ``book/reproducibility.md``)."""
    out = staging / "book" / "_generated"
    out.mkdir(parents=True, exist_ok=True)
    (out / "profiles.md").write_text(profiles_markdown())
    record = (
        build_record_markdown(timings)
        if timings and timings.get("chapters")
        else "This HTML was built from chapters executed earlier; their times are in the "
        "workspace's `timings.json`.\n"
    )
    (out / "build.md").write_text(record)


def build_html(
    strict: bool = True, output_root: Path | None = None, timings: dict | None = None
) -> Path:
    """Build the HTML book from the executed chapters; return the path of ``index.html``.

    Args:
        timings: this build's chapter times and memory (:func:`run_book`), shown in the book.

    Raises:
        MissingOutputError: a chapter has not been executed yet.
    """
    from soilnet.errors import MissingOutputError

    output_root = Path(output_root) if output_root else REPO_ROOT
    staging = output_root / "_build" / "book_src"
    executed = staging / "notebooks"
    missing = [n for n in CHAPTERS.values() if not (executed / f"{n}.ipynb").is_file()]
    if missing:
        raise MissingOutputError(
            f"Executed chapter(s) {', '.join(missing)} are missing under {executed}; run "
            "`python -m soilnet book --profile …` (which executes every chapter) first."
        )
    _venv_environment()
    stage_book(staging)
    write_generated_pages(staging, timings)
    cmd = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(staging),
        "--path-output",
        str(output_root),
    ]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise ChapterFailed(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    return output_root / "_build" / "html" / "index.html"


def run_book(
    profile: str = "default",
    *,
    data_dir: str | None = None,
    work_dir: str | None = None,
    device: str = "auto",
    overrides=None,
    chapters: list[int] | None = None,
    grid_dir: str | None = None,
    train: bool = True,
    html: bool = True,
    output_root: str | Path | None = None,
    log=print,
) -> dict:
    """Execute chapters in order and build the book.

    Args:
        profile: ``smoke``, ``default`` or ``paper``.
        data_dir: a real data folder (default: the profile's synthetic twin).
        work_dir: the workspace (default ``runs/<profile>``).
        device: ``auto``, ``cpu`` or ``cuda``.
        overrides: settings for chapter 1 to record (see :func:`soilnet.config.parse_overrides`);
            every chapter is given the same.
        chapters: chapter numbers to run (default all).
        grid_dir: a data folder of map grid points (``python -m soilnet grid``, then
            ``acquire``); the map chapter predicts it wall to wall. Needed for a map on real data.
        train: False: chapter 2 trains nothing and collects the runs trained by
            ``python -m soilnet runs --shard i/n`` jobs, stopping with the list of any missing.
        html: build the HTML after executing.
        output_root: the staged book goes to ``<output_root>/_build/book_src`` and the HTML to
            ``<output_root>/_build/html`` (default: the repository).

    Returns:
        timings: {"chapters": {name: seconds}, "html_seconds": s, "total_seconds": s}, also
        written to ``<work_dir>/timings.json``.
    """
    from soilnet.config import parse_overrides
    from soilnet.workspace import Study

    study = Study.create(profile, data_dir, work_dir, overrides, device)
    params = {
        "profile": profile,
        "data_dir": str(data_dir) if data_dir else None,
        "work_dir": str(study.work_dir),
        "device": device,
        "overrides": parse_overrides(overrides) or None,
    }
    output_root = Path(output_root) if output_root else REPO_ROOT
    executed = output_root / "_build" / "book_src" / "notebooks"
    start = time.perf_counter()
    timings: dict = {"profile": profile, "chapters": {}, "peak_memory_gb": {}}
    for number in chapters or sorted(CHAPTERS):
        log(f"[soilnet book] chapter {number}: {CHAPTERS[number]} ({profile}) ...")
        memory = PeakMemory()
        # Only the map chapter has the grid parameter and only the training chapter the train
        # flag; the others would log them as unknown.
        own = {
            MAP_CHAPTER: {"grid_dir": str(grid_dir) if grid_dir else None},
            TRAINING_CHAPTER: {"train": bool(train)},
        }.get(number, {})
        _, seconds = execute_chapter(
            number,
            {**params, **own},
            output_dir=executed,
            memory=memory,
        )
        timings["chapters"][CHAPTERS[number]] = round(seconds, 1)
        timings["peak_memory_gb"][CHAPTERS[number]] = round(memory.peak_gb, 2)
        log(f"[soilnet book] chapter {number} done in {seconds:.0f} s")
    if html:
        t0 = time.perf_counter()
        index = build_html(output_root=output_root, timings=timings)
        timings["html_seconds"] = round(time.perf_counter() - t0, 1)
        timings["index_html"] = str(index)
        log(f"[soilnet book] HTML built in {timings['html_seconds']:.0f} s: {index}")
    timings["total_seconds"] = round(time.perf_counter() - start, 1)
    study.work_dir.mkdir(parents=True, exist_ok=True)
    (study.work_dir / "timings.json").write_text(json.dumps(timings, indent=2))
    return timings
