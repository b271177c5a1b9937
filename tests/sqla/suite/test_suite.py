"""SQLAlchemy's own dialect compliance suite, as third-party dialects run it."""

from sqlalchemy.testing.suite import *  # noqa: F403
from sqlalchemy.testing.suite import ServerSideCursorsTest as _ServerSideCursorsTest


class ServerSideCursorsTest(_ServerSideCursorsTest):
    """The suite tells a server-side cursor by its driver's name, and knows only its own."""

    __backend__ = True

    def _is_server_side(self, cursor):
        return getattr(cursor, "server_side", False)
