"""uvicorn on a background thread: start binds at once (errors surface to the caller), stop is quick.

We bind the listening socket ourselves before the thread starts, so a busy port is a `ServerStartError`
right away, port 0 gives the real port, and clients that connect before uvicorn's loop is up simply
wait in the listen backlog. Stopping cancels every request in flight first, so uvicorn's graceful
shutdown never waits on a long generation.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
import time

import uvicorn

from desktop_app.core.server_config import ServerStartError, bind_address, url_for
from desktop_app.server.app import ServerApp

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S = 3


class _Server(uvicorn.Server):
    """uvicorn's server, telling us when it accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class ServerRunner:
    def __init__(self, app: ServerApp, host: str = "127.0.0.1", port: int = 8765) -> None:
        self.app = app
        self.host = bind_address(host)
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return url_for(self.host, self.port)

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port) of the listening socket."""
        assert self._socket is not None, "not started"
        name = self._socket.getsockname()
        return str(name[0]), int(name[1])

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def bind(self) -> str:
        """Take the port now (raises ServerStartError), serve later: lets `hearth serve` fail on a
        busy port before spending seconds loading a model. Returns the URL."""
        if self._socket is None or self._socket.fileno() < 0:
            self._socket = self._bind()
            self.port = int(self._socket.getsockname()[1])
        return self.url

    def start(self, *, wait: bool = False, timeout: float = 10.0) -> str:
        """Bind (unless `bind()` did) and serve on a new thread. Returns the URL. Raises
        ServerStartError."""
        if self.is_running():
            return self.url
        self.bind()
        sock = self._socket
        assert sock is not None
        config = uvicorn.Config(
            self.app,
            http="h11",
            loop="asyncio",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            ws="none",
        )
        self._server = _Server(config)
        self.error = None
        self._thread = threading.Thread(target=self._serve, name="hearth-server", args=(self._server, sock))
        self._thread.start()
        if wait:
            self.wait_ready(timeout)
        return self.url

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Wait until uvicorn's loop accepts connections (or the thread died)."""
        deadline = time.monotonic() + timeout
        server = self._server
        while server is not None and not server.ready.wait(0.02):
            if not self.is_running() or time.monotonic() > deadline:
                return False
        return server is not None and server.ready.is_set()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if sys.platform == "win32":  # SO_REUSEADDR on Windows lets others steal the port
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined,unused-ignore]
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
                raise ServerStartError(
                    f"Port {self.port} on {self.host} is already in use.",
                    hint="Stop the other server, or pick another port (--port, or the Server page).",
                    details=repr(exc),
                ) from exc
            raise ServerStartError(
                f"Cannot listen on {self.host}:{self.port}: {exc.strerror or exc}.",
                hint="Check the address and port; ports below 1024 need administrator rights.",
                details=repr(exc),
            ) from exc
        return sock

    def _serve(self, server: _Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit from uvicorn included: report, never kill the app
            self.error = exc
            log.error("the API server stopped with an error", exc_info=True)
        finally:
            sock.close()
            server.ready.set()

    def request_stop(self) -> None:
        """Non-blocking: cancel requests in flight and tell uvicorn to exit (within ~0.1 s)."""
        self.app.cancel_all()
        if self._server is not None:
            self._server.should_exit = True

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop and join the thread. True when it is gone."""
        self.request_stop()
        thread = self._thread
        if thread is None:  # bound but never started: just let the port go
            if self._socket is not None:
                self._socket.close()
            return True
        thread.join(timeout)
        if thread.is_alive() and self._server is not None:
            self._server.force_exit = True
            thread.join(timeout)
        return not thread.is_alive()
