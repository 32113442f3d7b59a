"""A small fake AMT on 127.0.0.1 that replays Intel's recorded responses.

It speaks like the firmware the reference describes (§6): Digest with ``qop="auth"``, nonce
reuse with a rising ``nc``, ``401`` + ``Connection: close``, chunked 200s with AMT's chunk
sizes (0x220, then 0x2FA), SOAP faults as HTTP 400, keep-alive after a 200. Test knobs: a
fault, malformed reply or dropped connection for the next call of a method, a reply delay, an
optional TLS certificate. It records every request (action, class, XML) so tests can check
sequences, and counts connections and request heads.

It parses requests with lxml directly (never with mewarden's parser).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

REALM = "Digest:F3EB554784E729164447A89F60B641C5"  # the realm in amt/general/get.xml
NS_A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_W = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"

FOLDERS = {
    "AMT_AuditLog": "amt/auditlog",
    "AMT_AuthorizationService": "amt/authorization",
    "AMT_BootSettingData": "amt/boot/settingdata",
    "AMT_EthernetPortSettings": "amt/ethernetport",
    "AMT_GeneralSettings": "amt/general",
    "AMT_MessageLog": "amt/messagelog",
    "AMT_RedirectionService": "amt/redirectionservice",
    "AMT_SetupAndConfigurationService": "amt/setupandconfiguration",
    "AMT_TLSSettingData": "amt/tls/settingdata",
    "AMT_TimeSynchronizationService": "amt/timesynchronization",
    "CIM_AssociatedPowerManagementService": "cim/associatedpower/managementservice",
    "CIM_BIOSElement": "cim/bios/element",
    "CIM_BootConfigSetting": "cim/boot/configsetting",
    "CIM_BootService": "cim/boot/service",
    "CIM_Card": "cim/card",
    "CIM_Chassis": "cim/chassis",
    "CIM_KVMRedirectionSAP": "cim/kvm",
    "CIM_MediaAccessDevice": "cim/mediaaccess",
    "CIM_PhysicalMemory": "cim/physical/memory",
    "CIM_PowerManagementService": "cim/power/managementservice",
    "CIM_Processor": "cim/physical/processor",
    "CIM_SoftwareIdentity": "cim/software/identity",
    "IPS_KVMRedirectionSettingData": "ips/kvmredirection/settings",
    "IPS_OptInService": "ips/optin",
}

FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-'
    'envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing"><a:Header><b:Action>'
    "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</b:Action></a:Header><a:Body>"
    "<a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>{sub}</a:Value>"
    "</a:Subcode></a:Code><a:Reason><a:Text>{reason}</a:Text></a:Reason></a:Fault></a:Body>"
    "</a:Envelope>"
)
EMPTY_PULL = (
    '<?xml version="1.0" encoding="UTF-8"?><a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-'
    'envelope" xmlns:g="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><a:Header/><a:Body>'
    "<g:PullResponse><g:Items/><g:EndOfSequence/></g:PullResponse></a:Body></a:Envelope>"
)


@dataclass
class Seen:
    """One request the fake received."""

    action: str
    class_name: str
    method: str
    xml: bytes


@dataclass
class FakeAmt:
    """State and knobs of one fake device."""

    corpus: Path
    username: str = "admin"
    password: str = "P@ssw0rd1"
    power_state: int = 2
    delay_s: float = 0.0
    faults: dict[str, tuple[str, str]] = field(default_factory=dict)
    malformed: set[str] = field(default_factory=set)
    overrides: dict[str, bytes] = field(default_factory=dict)
    """Method name -> reply body to send instead of the corpus file."""
    drop: set[str] = field(default_factory=set)
    """Methods whose next authenticated request is read, recorded, then the connection closed
    without a reply (a device that dies or closes mid-exchange)."""
    seen: list[Seen] = field(default_factory=list)
    challenges: int = 0
    connections: int = 0
    requests_received: int = 0
    """Every request head read, authenticated or not."""
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    nonces: dict[str, int] = field(default_factory=dict)
    on_request: Callable[[Seen], None] | None = None

    def _file(self, class_name: str, name: str) -> bytes:
        folder = self.corpus / "responses" / FOLDERS.get(class_name, "missing")
        path = folder / f"{name}.xml"
        if not path.is_file():
            return EMPTY_PULL.encode() if name == "pull" else b""
        data = path.read_bytes()
        data = data[data.find(b"<") :]
        return re.sub(rb">\s+<", b"><", data).strip()  # real AMT sends compact XML

    def reply(self, seen: Seen) -> tuple[int, bytes]:
        """Status and body for one authenticated request."""
        if seen.method in self.faults:
            sub, reason = self.faults.pop(seen.method)
            return 400, FAULT.format(sub=sub, reason=reason).encode()
        if seen.method in self.malformed:
            self.malformed.discard(seen.method)
            return 200, b"<a:Envelope><unclosed>"
        if seen.method in self.overrides:
            return 200, self.overrides[seen.method]
        if seen.method == "RequestPowerStateChange":
            match = re.search(rb"PowerState>(\d+)<", seen.xml)
            if match:
                self.power_state = {5: 2, 10: 2, 14: 2, 12: 8}.get(
                    int(match.group(1)), int(match.group(1))
                )
        name = seen.method.lower()
        if (
            name == "put"
            and not (
                self.corpus / "responses" / FOLDERS.get(seen.class_name, "x") / "put.xml"
            ).is_file()
        ):
            name = "get"
        body = self._file(seen.class_name, name)
        if not body:
            return 400, FAULT.format(sub="b:ActionNotSupported", reason="Not supported.").encode()
        if seen.class_name == "CIM_AssociatedPowerManagementService":
            body = re.sub(rb"PowerState>\d+<", b"PowerState>%d<" % self.power_state, body)
        return 200, body

    def check_auth(self, header: str) -> bool:
        """Validate a Digest Authorization header (qop=auth, nonce known, nc rising)."""
        if not header.startswith("Digest "):
            return False
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
        nonce = params.get("nonce", "")
        if nonce not in self.nonces or params.get("qop") != "auth":
            return False
        nc = int(params.get("nc", "0"), 16)
        if nc <= self.nonces[nonce] or not params.get("response"):
            return False
        ha1 = md5(f"{self.username}:{REALM}:{self.password}")
        ha2 = md5(f"POST:{params.get('uri', '')}")
        want = md5(f"{ha1}:{nonce}:{params['nc']}:{params.get('cnonce', '')}:auth:{ha2}")
        if params.get("username") != self.username or params["response"] != want:
            return False
        self.nonces[nonce] = nc
        return True

    def new_nonce(self) -> str:
        """A 32-character base64 nonce like AMT's."""
        nonce = base64.b64encode(os.urandom(24)).decode()
        self.nonces[nonce] = 0
        self.challenges += 1
        return nonce


def md5(text: str) -> str:
    """Hex MD5, as Digest uses it."""
    return hashlib.md5(text.encode()).hexdigest()


def _chunked(body: bytes) -> bytes:
    out = bytearray()
    sizes = [0x220]
    pos = 0
    while pos < len(body):
        size = sizes[0] if pos == 0 else 0x2FA
        chunk = body[pos : pos + size]
        out += b"%04X\r\n" % len(chunk) + chunk + b"\r\n"
        pos += len(chunk)
    return bytes(out + b"0\r\n\r\n")


async def _read_request(reader: asyncio.StreamReader) -> tuple[dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
    }
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size + 2)
            del body[-2:]
        return headers, bytes(body)
    return headers, await reader.readexactly(int(headers.get("content-length", "0")))


def _describe(xml: bytes) -> Seen:
    root = etree.fromstring(xml)
    action = root.findtext(f".//{{{NS_A}}}Action") or ""
    uri = root.findtext(f".//{{{NS_W}}}ResourceURI") or ""
    method = action.rsplit("/", 1)[-1]
    return Seen(action=action, class_name=uri.rsplit("/", 1)[-1], method=method, xml=xml)


async def _serve(fake: FakeAmt, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    fake.connections += 1
    fake.writers.add(writer)
    try:
        while (request := await _read_request(reader)) is not None:
            fake.requests_received += 1
            headers, body = request
            if not fake.check_auth(headers.get("authorization", "")):
                page = b"<html>Log on failed. Incorrect user name or password.</html>"
                writer.write(
                    b"HTTP/1.1 401 Unauthorized\r\n"
                    + f'WWW-Authenticate: Digest realm="{REALM}", nonce="{fake.new_nonce()}",'
                    'stale="false",qop="auth"\r\n'.encode()
                    + b"Content-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                    % len(page)
                    + page
                )
                await writer.drain()
                return
            seen = _describe(body)
            fake.seen.append(seen)
            if fake.on_request is not None:
                fake.on_request(seen)
            if seen.method in fake.drop:
                fake.drop.discard(seen.method)
                return
            status, payload = fake.reply(seen)
            if fake.delay_s:
                await asyncio.sleep(fake.delay_s)
            reason = b"OK" if status == 200 else b"Bad Request"
            writer.write(
                b"HTTP/1.1 %d %s\r\nServer: Intel(R) Active Management Technology 15.0.23.1706\r\n"
                b"Content-Type: application/soap+xml; charset=UTF-8\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" % (status, reason) + _chunked(payload)
            )
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        fake.writers.discard(writer)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def start(
    fake: FakeAmt, *, tls: ssl.SSLContext | None = None, port: int = 0
) -> tuple[asyncio.Server, int]:
    """Listen on 127.0.0.1 (ephemeral port unless given); returns the server and its port."""
    server = await asyncio.start_server(
        lambda r, w: _serve(fake, r, w), "127.0.0.1", port, ssl=tls, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    return server, int(port)
