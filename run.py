#!/usr/bin/env python3
"""Set up the study's environment and run it: the README's two commands.

    python3.11 run.py book   # .venv + install, then build the book on the default twin
    python3.11 run.py test   # .venv + install (reused when up to date), then the test suite

Extra arguments go to the command run, e.g. ``python3.11 run.py book --profile smoke`` or
``python3.11 run.py test -k metrics``. Needs only Python >= 3.10 with ``venv``.

torch: on the study's reference machines only ``torch==2.14.1`` with ``torchvision==0.29.1``
install offline and import together, so they are the default; elsewhere any recent matching pair
works: ``SOILNET_TORCH="torch torchvision" python3.11 run.py test``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".soilnet-installed"
TORCH = os.environ.get("SOILNET_TORCH", "torch==2.14.1 torchvision==0.29.1")


def sh(*cmd: str, check: bool = True) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, check=check).returncode


def pip(*args: str) -> None:
    """Run pip in .venv; drop the index-location warnings some mirrors print for every package."""
    cmd = [str(PY), "-m", "pip", *args]
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    for line in proc.stdout:
        if not line.startswith("WARNING: Location "):
            print(line, end="", flush=True)
    if proc.wait() != 0:
        raise SystemExit(f"pip failed (exit {proc.returncode}): {' '.join(cmd)}")


def setup() -> None:
    """Create .venv and install the package; skipped when pyproject and pins are unchanged."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + TORCH.encode()).hexdigest()
    if STAMP.is_file() and STAMP.read_text() == wanted and PY.exists():
        return
    if not PY.exists():
        sh(sys.executable, "-m", "venv", str(VENV))
    pip("install", "-q", *TORCH.split())
    pip("install", "-q", "-e", ".[dev]")
    STAMP.write_text(wanted)


def ensure_chromium() -> None:
    """Install Debian's chromium for the page test when missing and apt is usable; else say why."""
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (
            ["apt-get", "install", "-y", "-q", "chromium"],
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "chromium"],
        ):
            ok = (
                subprocess.run(
                    cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                ).returncode
                == 0
            )
            if ok and shutil.which("chromium"):
                return
    print(
        "note: chromium could not be installed here; the page screenshot test will be skipped.",
        flush=True,
    )


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("book", "test", "setup"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    setup()
    if command == "book":
        args = (
            rest
            if any(a.startswith("--profile") for a in rest)
            else ["--profile", "default", *rest]
        )
        return sh(str(PY), "-m", "soilnet", "book", *args, check=False)
    if command == "test":
        ensure_chromium()
        return sh(str(PY), "-m", "pytest", *rest, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
