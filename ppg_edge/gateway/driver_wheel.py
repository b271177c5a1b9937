"""The driver (edge) wheel the gateway serves to browsers and notebooks: found, read, hashed.

A notebook on another origin installs the driver with
``await micropip.install(f"{endpoint}/v0/wheel/<file name>")``. micropip takes the
project name, version and tags from the URL's last segment, so the file keeps its
real wheel name (``ppg_edge-0.1.0+edge-py3-none-any.whl``); a name without a
version does not parse and micropip refuses it.

Where the wheel comes from, in this order:

1. ``--wheel PATH``: a wheel file, or a folder holding exactly one ppg_edge wheel.
   This is what an installed gateway uses (e.g. a wheel shipped beside it).
2. Otherwise, when this ``ppg_edge`` is a source checkout, its ``wheels/`` folder,
   where ``scripts/build_wheel.py`` writes the edge wheel.
3. Otherwise none: the wheel routes answer 404 saying so (``--no-wheel`` asks for that).

The file is read once at start-up (it is small: the driver wheel is under 80 KB),
so every answer carries the same bytes and ETag until the gateway restarts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

WHEEL_GLOB = "ppg_edge-*-py3-none-any.whl"
"""A pure ppg_edge wheel, the edge one or the full one (both install under Pyodide)."""

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding the ``ppg_edge`` package: a source checkout or site-packages."""

CHECKOUT_WHEELS = "wheels"
"""Where ``scripts/build_wheel.py`` writes the edge wheel in a source checkout."""

CHECKOUT_MARKERS = ("pyproject.toml", "scripts/build_wheel.py")


class WheelNotFound(LookupError):
    """No usable ppg_edge wheel at a given path: the message says what was found."""


def find_wheel(path: Path) -> Path:
    """``path`` itself when it is a ppg_edge wheel, else the one ppg_edge wheel inside it."""
    if path.is_file():
        if not path.match(WHEEL_GLOB):
            raise WheelNotFound(f"{path} is not a pure ppg_edge wheel ({WHEEL_GLOB})")
        return path
    if not path.is_dir():
        raise WheelNotFound(f"no wheel file or folder at {path}")
    found = sorted(path.glob(WHEEL_GLOB))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise WheelNotFound(f"expected exactly one {WHEEL_GLOB} in {path}, found {names}")
    return found[0]


def checkout_wheel(root: Path = PACKAGE_ROOT) -> Path | None:
    """The edge wheel built in this source checkout's ``wheels/``, if it is one and has one."""
    if not all((root / marker).is_file() for marker in CHECKOUT_MARKERS):
        return None
    try:
        return find_wheel(root / CHECKOUT_WHEELS)
    except WheelNotFound:
        return None


@dataclass(frozen=True)
class DriverWheel:
    """A wheel's file name, bytes, SHA-256 and the strong ETag derived from it."""

    filename: str
    body: bytes = field(repr=False)
    sha256: str

    @classmethod
    def read(cls, path: Path) -> DriverWheel:
        body = path.read_bytes()
        return cls(path.name, body, hashlib.sha256(body).hexdigest())

    @property
    def version(self) -> str:
        """The version in the file name (``ppg_edge-VERSION-py3-none-any.whl``)."""
        return self.filename.split("-")[1]

    @property
    def etag(self) -> str:
        return self.sha256
