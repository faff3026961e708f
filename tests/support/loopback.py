"""A TCP server on loopback for hostile and proxy tests: one thread per connection.

Subclasses implement :meth:`LoopbackServer.serve` for one accepted connection; every socket the
server accepted or opened (``socks``) is shut down by :meth:`stop`, so a test's finalizer ends
the threads still blocked on them.
"""

from __future__ import annotations

import socket
import threading


class LoopbackServer:
    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def serve(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.socks.append(sock)
            threading.Thread(target=self.serve, args=(sock,), daemon=True).start()

    def stop(self) -> None:
        self.listener.close()
        for sock in self.socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def servers(make):
    """The body of a fixture that starts servers with ``make(...)`` and stops them all after."""
    started: list[LoopbackServer] = []

    def start(*args):
        started.append(make(*args))
        return started[-1]

    yield start
    for server in started:
        server.stop()
