"""The driver (edge) wheel the gateway serves to browsers and notebooks: found, read, hashed.

A notebook on another origin installs the driver with
``await micropip.install(f"{endpoint}/v0/wheel/<file name>")``. micropip takes the
project name, version and tags from the URL's last segment, so the file keeps its
real wheel name (``ppg_edge-0.1.0-py3-none-any.whl``); a name without a
version does not parse and micropip refuses it.

Where the wheel comes from, in this order:

1. ``--wheel PATH``: a wheel file, or a folder holding exactly one ppg_edge wheel
   (``make demo`` passes ``--wheel wheels``, where ``scripts/build_wheel.py`` writes it).
2. Otherwise none: the wheel routes answer 404 saying so (``--no-wheel`` says so too).
   An installed gateway never guesses a source checkout's layout.

The file is read once at start-up (it is small: the driver wheel is under 80 KB),
so every answer carries the same bytes and ETag until the gateway restarts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

WHEEL_GLOB = "ppg_edge-*-py3-none-any.whl"
"""The pure driver wheel (it installs under Pyodide)."""


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
