"""The transport's sans-IO parts: HTTP/1.1 framing of replies (h11) and its size limits."""

from __future__ import annotations

import pytest

from mewarden.amt import transport
from mewarden.amt.transport import FramingError, HttpReply, ReplyParser, ReplyTooLarge
from mewarden.emulate.webserver import chunked

BODY = b"<a:Envelope>" + b"x" * 3000 + b"</a:Envelope>"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml; charset=UTF-8\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(BODY) + b"0\r\n\r\n"


def _sent(parser: ReplyParser, authorization: str | None = None) -> bytes:
    return parser.request(b"127.0.0.1:16992", b"<Envelope/>", authorization)


def _feed_all(parser: ReplyParser, data: bytes, step: int) -> HttpReply:
    replies = [parser.feed(data[i : i + step]) for i in range(0, len(data), step)]
    assert all(r is None for r in replies[:-1])  # nothing before the last byte
    assert replies[-1] is not None
    return replies[-1]


def _feed_each(parser: ReplyParser, pieces: list[bytes]) -> None:
    for piece in pieces:
        parser.feed(piece)


def test_request_bytes_are_a_post_to_wsman() -> None:
    data = _sent(ReplyParser(), 'Digest username="admin"')
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /wsman HTTP/1.1"
    assert b"Host: 127.0.0.1:16992" in lines
    assert b"Content-Type: application/soap+xml; charset=utf-8" in lines
    assert b"Content-Length: 11" in lines
    assert b'Authorization: Digest username="admin"' in lines
    assert body == b"<Envelope/>"
    assert not any(line.startswith(b"Authorization") for line in _sent(ReplyParser()).split())


@pytest.mark.parametrize("step", [1, 7, 544, 100_000])
def test_chunked_reply_split_anywhere(step: int) -> None:
    parser = ReplyParser()
    _sent(parser)
    reply = _feed_all(parser, CHUNKED, step)
    assert reply.status == 200
    assert reply.body == BODY
    assert reply.header(b"content-type") == "application/soap+xml; charset=UTF-8"
    assert parser.keep_alive
    assert parser.idle  # ready for the next request on the same connection


def test_kept_alive_parser_frames_the_next_exchange() -> None:
    parser = ReplyParser()
    for _ in range(3):
        _sent(parser)
        assert parser.feed(CHUNKED) is not None
    assert parser.keep_alive


def test_content_length_reply() -> None:
    parser = ReplyParser()
    _sent(parser)
    raw = HEAD + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY
    assert _feed_all(parser, raw, 1000).body == BODY
    assert parser.keep_alive


def test_401_with_connection_close_is_not_kept() -> None:
    parser = ReplyParser()
    _sent(parser)
    page = b"<html>Log on failed.</html>"
    raw = (
        b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="r", nonce="n"\r\n'
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(page) + page
    )
    reply = parser.feed(raw)
    assert reply is not None
    assert reply.status == 401
    assert reply.header(b"www-authenticate") == 'Digest realm="r", nonce="n"'
    assert reply.header(b"x-missing") == ""
    assert not parser.keep_alive


def test_reply_framed_by_end_of_file() -> None:
    parser = ReplyParser()
    _sent(parser)
    assert parser.feed(HEAD + b"\r\n" + BODY) is None  # no length: the body runs to the close
    reply = parser.feed(b"")
    assert reply is not None
    assert reply.body == BODY
    assert not parser.keep_alive


def test_informational_reply_is_skipped() -> None:
    parser = ReplyParser()
    _sent(parser)
    reply = parser.feed(b"HTTP/1.1 100 Continue\r\n\r\n" + CHUNKED)
    assert reply is not None
    assert reply.status == 200


def test_bytes_after_the_reply_make_the_connection_unusable() -> None:
    parser = ReplyParser()
    _sent(parser)
    assert parser.feed(CHUNKED + b"HTTP/1.1 200 OK\r\n") is not None
    assert not parser.keep_alive


@pytest.mark.parametrize(
    "raw",
    [
        b"",  # closed before a reply
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",  # cut short
        b"\x15\x03\x01\x00\x02\x02\x28",  # a TLS alert where HTTP was expected
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",  # bad chunk size
    ],
)
def test_malformed_or_truncated_replies(raw: bytes) -> None:
    parser = ReplyParser()
    _sent(parser)
    with pytest.raises(FramingError):
        _feed_each(parser, [raw, b""])


def test_oversized_head_is_refused() -> None:
    parser = ReplyParser()
    _sent(parser)
    line = b"X-Pad: 1234567\r\n"  # 16 bytes, and never the blank line that ends a head
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(FramingError):
        _feed_each(parser, [line] * (transport.MAX_HEAD // len(line) + 2))


def test_oversized_declared_body_is_refused_before_reading_it() -> None:
    parser = ReplyParser()
    _sent(parser)
    with pytest.raises(ReplyTooLarge):
        parser.feed(HEAD + b"Content-Length: %d\r\n\r\n" % (transport.MAX_BODY + 1))


def test_oversized_chunked_body_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "MAX_BODY", 4096)
    parser = ReplyParser()
    _sent(parser)
    parser.feed(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(ReplyTooLarge):
        _feed_each(parser, [b"400\r\n" + b"y" * 1024 + b"\r\n"] * 10)
