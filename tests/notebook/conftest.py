"""Fixtures for the JupyterLite test: the site, built offline and served, and a gateway
that allows its origin.

scripts/build_jupyterlite.py builds the site from the registries (PyPI, npm) into
build/jupyterlite/site and reuses it while its inputs are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.jupyterlite import SiteServer, build_site


@pytest.fixture(scope="session")
def jupyterlite_site() -> Iterator[SiteServer]:
    server = SiteServer(build_site())
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def lite_gateway(gateway_factory: Any, jupyterlite_site: SiteServer) -> Any:
    """A gateway that allows exactly the site's origin, as the README says to start it."""
    return gateway_factory(allow_origin=[jupyterlite_site.origin])
