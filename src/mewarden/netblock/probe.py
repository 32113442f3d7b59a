"""The scanner's pure parts: probe payloads, response parsing, and exposure findings.

Facts (reference live-me-and-network.md B3): the RMCP presence ping is the 12 bytes nmap sends
to UDP 623 (RMCP v6, seq 0xff, class ASF, IANA enterprise 4542, message 0x80, tag 0, length 0);
a presence pong carries message type 0x40. AMT's web server identifies itself with
``Server: Intel(R) Active Management Technology <ver>`` (or ``Intel(R) Standard Manageability``,
or an older ``AMT``) and answers ``/index.htm`` with a Digest 401. The CVE-2017-5689 check
(INTEL-SA-00075) re-sends the request as user ``admin`` with an empty ``response=""``: firmware
that answers 200 is vulnerable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import h11

from mewarden.errors import AmtAuthError
from mewarden.netblock.inventory import NodePolicy

RMCP_PRESENCE_PING = bytes.fromhex("0600ff06000011be80000000")
_ASF_IANA = bytes.fromhex("000011be")
_PRESENCE_PONG = 0x40
BANNER_PATH = "/index.htm"
_MAX_HEAD = 64 * 1024


class PortState(enum.StrEnum):
    """What a TCP connect found: accepted, refused (RST), no answer within the timeout, or a
    local error that says nothing about the target (the report carries its message)."""

    OPEN = "open"
    CLOSED = "closed"
    FILTERED = "filtered"
    ERROR = "error"


class CveVerdict(enum.StrEnum):
    """Outcome of the CVE-2017-5689 check."""

    VULNERABLE = "vulnerable"
    NOT_VULNERABLE = "not-vulnerable"
    NOT_TESTED = "not-tested"


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpHead:
    """Status and the headers the scanner looks at."""

    status: int
    server: str = ""
    authenticate: str = ""


def is_presence_pong(data: bytes) -> bool:
    """True for an ASF presence pong (RMCP v6, class ASF, IANA 4542, message type 0x40)."""
    return (
        len(data) >= 12
        and data[0] == 0x06
        and data[3] & 0x0F == 0x06
        and data[4:8] == _ASF_IANA
        and data[8] == _PRESENCE_PONG
    )


def banner_request(host: str, authorization: str | None = None) -> bytes:
    """``GET /index.htm`` as AMT's web UI expects it, one request per connection."""
    lines = [f"GET {BANNER_PATH} HTTP/1.1", f"Host: {host}", "Connection: close"]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(data: bytes) -> HttpHead | None:
    """The status line and headers of an HTTP response, or None when it is not HTTP."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target=BANNER_PATH, headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data[:_MAX_HEAD])
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    if not isinstance(event, h11.Response):
        return None
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
    return HttpHead(
        status=event.status_code,
        server=headers.get("server", ""),
        authenticate=headers.get("www-authenticate", ""),
    )


def is_amt_server(server: str) -> bool:
    """The ``Server`` values nmap's service probes attribute to AMT / ISM."""
    return "Intel(R)" in server or server.strip() == "AMT"


def empty_response_authorization(challenge_header: str, *, cnonce: str = "0a4f113b") -> str | None:
    """The CVE-2017-5689 probe: admin, the device's realm and nonce, ``response=""``."""
    from mewarden.amt.digest import parse_challenge

    try:
        challenge = parse_challenge(challenge_header)
    except AmtAuthError:
        return None
    return (
        f'Digest username="admin", realm="{challenge.realm}", nonce="{challenge.nonce}", '
        f'uri="{BANNER_PATH}", response="", qop=auth, nc=00000001, cnonce="{cnonce}"'
    )


def worst(verdicts: tuple[CveVerdict, ...]) -> CveVerdict:
    """One verdict for several ports: vulnerable anywhere wins, then a tested port."""
    for candidate in (CveVerdict.VULNERABLE, CveVerdict.NOT_VULNERABLE):
        if candidate in verdicts:
            return candidate
    return CveVerdict.NOT_TESTED


def verdict(head: HttpHead | None) -> CveVerdict:
    """A 200 to the empty-response probe means the firmware skipped the password check."""
    if head is None:
        return CveVerdict.NOT_TESTED
    return CveVerdict.VULNERABLE if head.status == 200 else CveVerdict.NOT_VULNERABLE


class Vantage(enum.StrEnum):
    """Where the scan runs: use nodes must answer a controller and nobody else."""

    CONTROLLER = "controller"
    OUTSIDE = "outside"


def findings(
    policy: NodePolicy,
    open_amt_ports: tuple[int, ...],
    rmcp_answers: bool,
    cve: CveVerdict,
    vantage: Vantage = Vantage.CONTROLLER,
) -> tuple[str, ...]:
    """Exposure vs policy, as seen from ``vantage``."""
    found: list[str] = []
    exposed = policy is NodePolicy.NEUTRALIZE or (
        policy is NodePolicy.USE and vantage is Vantage.OUTSIDE
    )
    if exposed:
        where = (
            "a neutralize node"
            if policy is NodePolicy.NEUTRALIZE
            else "a use node, to a non-controller"
        )
        found += [f"AMT port {p}/tcp open on {where}" for p in open_amt_ports]
        if rmcp_answers:
            found.append(f"RMCP presence ping answered on {where}")
    if cve is CveVerdict.VULNERABLE:
        found.append("AMT accepts an empty Digest response (CVE-2017-5689)")
    return tuple(found)
