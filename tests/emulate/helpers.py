"""Test helpers: envelopes and a raw HTTP Digest client written from the reference formulas."""

from __future__ import annotations

import asyncio
import hashlib
import re

PASSWORD = "P@ssw0rd-Emu1"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
ENUMERATION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
CIM = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
AMT = "http://intel.com/wbem/wscim/1/amt-schema/1/"


def envelope(resource: str, action: str, body: str = "", selectors: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/'
        'soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header>'
        f"<a:Action>{action}</a:Action><a:To>/wsman</a:To><w:ResourceURI>{resource}"
        f"</w:ResourceURI><a:MessageID>1</a:MessageID>{selectors}</Header><Body>{body}</Body>"
        "</Envelope>"
    ).encode()


def get(resource: str) -> bytes:
    return envelope(resource, f"{TRANSFER}/Get")


def power_change(state: int) -> bytes:
    uri = CIM + "CIM_PowerManagementService"
    body = (
        f'<h:RequestPowerStateChange_INPUT xmlns:h="{uri}"><h:PowerState>{state}</h:PowerState>'
        "</h:RequestPowerStateChange_INPUT>"
    )
    return envelope(uri, f"{uri}/RequestPowerStateChange", body)


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def challenge_params(header: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


class RawHttp:
    """One keep-alive connection; answers challenges with RFC 2617 digest (qop=auth)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> RawHttp:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, body: bytes, authorization: str = "", target: str = "/wsman") -> None:
        head = f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        if authorization:
            head += f"Authorization: {authorization}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        await self.writer.drain()

    async def response(self) -> tuple[int, dict[str, str], bytes, list[str]]:
        """Status, headers (lower-case names), body, and the raw chunk-size lines."""
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = bytearray()
        sizes: list[str] = []
        if headers.get("transfer-encoding") == "chunked":
            while True:
                size_line = (await self.reader.readline()).decode().strip()
                sizes.append(size_line)
                size = int(size_line, 16)
                chunk = await self.reader.readexactly(size + 2)
                body += chunk[:-2]
                if size == 0:
                    break
        else:
            body += await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, bytes(body), sizes

    def close(self) -> None:
        self.writer.close()


def authorization(params: dict[str, str], nc: int, password: str = PASSWORD) -> str:
    ha1 = md5(f"admin:{params['realm']}:{password}")
    ha2 = md5("POST:/wsman")
    nc_text = f"{nc:08x}"
    response = md5(f"{ha1}:{params['nonce']}:{nc_text}:0a4f11:auth:{ha2}")
    return (
        f'Digest username="admin", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="/wsman", cnonce="0a4f11", nc={nc_text}, qop="auth", response="{response}"'
    )


IPS = "http://intel.com/wbem/wscim/1/ips-schema/1/"


def put(resource: str, fields: dict[str, str]) -> bytes:
    """A Put of ``fields`` (in this order) to the class ``resource`` names."""
    name = resource.rsplit("/", 1)[1]
    inner = "".join(f"<h:{k}>{v}</h:{k}>" for k, v in fields.items())
    body = f'<h:{name} xmlns:h="{resource}">{inner}</h:{name}>'
    return envelope(resource, f"{TRANSFER}/Put", body)


def invoke(resource: str, method: str, args: dict[str, str] | None = None) -> bytes:
    """A ``<method>_INPUT`` call with ``args`` as its parameters."""
    inner = "".join(f"<h:{k}>{v}</h:{k}>" for k, v in (args or {}).items())
    body = f'<h:{method}_INPUT xmlns:h="{resource}">{inner}</h:{method}_INPUT>'
    return envelope(resource, f"{resource}/{method}", body)


def instance_fields(reply: bytes) -> list[tuple[str, str]]:
    """``(name, text)`` of every property of the instance in a Get/Put reply, in order."""
    from lxml import etree

    root = etree.fromstring(reply)
    body = next(c for c in root if etree.QName(c).localname == "Body")
    return [
        (etree.QName(p).localname, (p.text or "").strip())
        for p in body[0]
        if isinstance(p.tag, str) and not len(p)  # references are not sent back
    ]


def put_fields(resource: str, fields: list[tuple[str, str]]) -> bytes:
    """A Put whose body repeats names as given (multi-valued properties)."""
    name = resource.rsplit("/", 1)[1]
    inner = "".join(f"<h:{k}>{v}</h:{k}>" for k, v in fields)
    body = f'<h:{name} xmlns:h="{resource}">{inner}</h:{name}>'
    return envelope(resource, f"{TRANSFER}/Put", body)
