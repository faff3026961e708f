"""HTTP/1.1 framing of the registry transport, against a scripted server on a socket pair."""

import socket
import threading

import pytest

from boxen.common.errors import InvalidArgument
from boxen.image.registry import http11


def test_request_head_puts_host_first_and_refuses_line_breaks():
    head = http11.request_head("GET", "/v2/", "r:5000", {"Accept": "a", "Host": "ignored"}, chunked=False)
    assert head == b"GET /v2/ HTTP/1.1\r\nHost: r:5000\r\nAccept: a\r\n\r\n"
    with pytest.raises(InvalidArgument):
        http11.request_head("GET", "/", "h", {"X": "a\r\nInjected: 1"}, chunked=False)


def test_parse_head():
    status, reason, headers = http11.parse_head(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /x\r\nA:  b ")
    assert (status, reason, headers) == (307, "Temporary Redirect", [("Location", "/x"), ("A", "b")])
    for bad in (b"SMTP 220 hi", b"HTTP/1.1 abc", b"HTTP/1.1 200 OK\r\nno colon", b"HTTP/1.1 200 OK\nX: 1",
                b"HTTP/1.1 200 OK\r\nX: a\rb", b"HTTP/1.1 200 OK\r\nX: a\x00"):
        with pytest.raises(http11.ProtocolError):
            http11.parse_head(bad)


class Scripted(http11.Connection):
    """A Connection whose other end is a thread sending canned bytes."""

    def __init__(self, *answers: bytes) -> None:
        self.sock, server = socket.socketpair()
        self.host, self.port = "registry", 5000
        self._buffer = bytearray()
        self.received = bytearray()

        def serve():
            for answer in answers:
                while b"\r\n\r\n" not in self.received:
                    self.received += server.recv(65536)
                self.received.clear()
                server.sendall(answer)
            server.close()

        threading.Thread(target=serve, daemon=True).start()


def _body(response):
    out = b""
    while chunk := response.read(3):
        out += chunk
    return out


def test_content_length_then_keep_alive_then_chunked():
    conn = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n")
    conn.request("GET", "/a", {})
    first = conn.response("GET")
    assert (first.status, _body(first), first.complete, first.will_close) == (200, b"hello", True, False)
    conn.request("GET", "/b", {})
    second = conn.response("GET")
    assert second.chunked and _body(second) == b"wikipedia" and second.complete


def test_bodiless_answers_and_close_delimited_bodies():
    conn = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
                    b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
    conn.request("HEAD", "/blob", {})
    head = conn.response("HEAD")
    assert head.complete and head.read() == b""
    conn.request("GET", "/old", {})
    old = conn.response("GET")
    assert old.will_close and _body(old) == b"until the end"


def test_an_early_close_is_an_error():
    conn = Scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
    conn.request("GET", "/", {})
    response = conn.response("GET")
    with pytest.raises(http11.ProtocolError, match="before the end of the body"):
        _body(response)


def test_streamed_bodies_are_sent_chunked_unless_their_length_is_given():
    a, b = socket.socketpair()
    conn = Scripted()
    conn.sock = a
    conn.request("PATCH", "/upload", {}, [b"abc", b"", b"de"])
    conn.request("PUT", "/upload", {"Content-Length": "2"}, [b"xy"])
    a.close()
    sent = b""
    while data := b.recv(65536):
        sent += data
    assert b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n" in sent
    assert sent.endswith(b"Content-Length: 2\r\n\r\nxy")


@pytest.mark.parametrize("target", ["/a\r\nX: 1", "/a\nb", "/a\x00", "/a b", "/\x7f", "/é", ""])
def test_request_targets_with_controls_spaces_or_non_ascii_are_refused(target):
    with pytest.raises(InvalidArgument, match="request target"):
        http11.request_head("GET", target, "h", {}, chunked=False)


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00", "a\x01b", "a\x7f", " a"])
def test_header_values_with_control_characters_are_refused(value):
    with pytest.raises(InvalidArgument, match="control character"):
        http11.request_head("GET", "/", "h", {"Authorization": value}, chunked=False)
    with pytest.raises(InvalidArgument):
        http11.request_head("GET", "/", value, {}, chunked=False)
