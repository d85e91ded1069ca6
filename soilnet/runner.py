"""Execute the book's chapters with papermill and build the HTML with Jupyter Book.

``python -m soilnet book --profile smoke|default|paper [--data DIR]`` runs every notebook of
``notebooks/`` in order with that profile's parameters and writes the executed copies into a
staging copy of the book (``_build/book_src/``, laid out like the repository, so page paths and
the Binder/Colab launch buttons point at ``notebooks/*.ipynb``; the committed notebooks stay
without outputs). It removes the parameter cells from the rendered pages and builds HTML into
``_build/html`` with ``jupyter-book build -W -n --keep-going``: without these flags a failing
notebook or a broken reference would still exit 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from soilnet.errors import ChapterFailed, ConfigurationError
from soilnet.workspace import CHAPTERS, REPO_ROOT

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


def execute_chapter(
    number: int,
    parameters: dict,
    *,
    output_dir: Path,
    timeout_s: int | None = None,
) -> tuple[Path, float]:
    """Execute one chapter notebook with papermill; return (executed path, seconds)."""
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


def build_html(strict: bool = True, output_root: Path | None = None) -> Path:
    """Build the HTML book from the executed chapters; return the path of ``index.html``.

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
    timings: dict = {"profile": profile, "chapters": {}}
    for number in chapters or sorted(CHAPTERS):
        log(f"[soilnet book] chapter {number}: {CHAPTERS[number]} ({profile}) ...")
        _, seconds = execute_chapter(number, params, output_dir=executed)
        timings["chapters"][CHAPTERS[number]] = round(seconds, 1)
        log(f"[soilnet book] chapter {number} done in {seconds:.0f} s")
    if html:
        t0 = time.perf_counter()
        index = build_html(output_root=output_root)
        timings["html_seconds"] = round(time.perf_counter() - t0, 1)
        timings["index_html"] = str(index)
        log(f"[soilnet book] HTML built in {timings['html_seconds']:.0f} s: {index}")
    timings["total_seconds"] = round(time.perf_counter() - start, 1)
    study.work_dir.mkdir(parents=True, exist_ok=True)
    (study.work_dir / "timings.json").write_text(json.dumps(timings, indent=2))
    return timings
