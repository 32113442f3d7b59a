"""The simulated MEI endpoint's wire format (pure): what stands in for ``/dev/meiN``.

The emulator (``mewarden emulate --mei-dir DIR``) gives each device a Unix socket
``DIR/<address>.sock`` of type **SOCK_SEQPACKET**: the kernel keeps one ``send`` as one
message, exactly as one ``write`` to ``/dev/meiN`` is one MEI message and one ``read`` returns
one, so no length prefix is needed and a client cannot confuse message boundaries.

The connect ioctl (``IOCTL_MEI_CONNECT_CLIENT``) becomes the first exchange on a connection:

* client -> endpoint: the ioctl's 16-byte input, the firmware client's UUID in ``bytes_le``
  order (AMTHI, LME, ...);
* endpoint -> client: a u32 errno (little-endian; 0 = connected, else ``ENOTTY`` for an unknown
  client, ``EBUSY`` when the client is taken), then the ioctl's 16-byte output buffer
  {u32 max_msg_length, u8 protocol_version, 11 reserved}.

After that every message is one firmware-client message. The endpoint closing the socket is
what ``ENODEV`` on ``/dev/meiN`` is: the firmware (or an ME reset) dropped the connection.
"""

from __future__ import annotations

import errno
import struct
import uuid

from mewarden.errors import HostDataError, MeiError
from mewarden.host.mei import ClientProperties

CONNECT_REQUEST_SIZE = 16
_CONNECT_REPLY = struct.Struct("<IIB11x")
CONNECT_REPLY_SIZE = _CONNECT_REPLY.size


def build_connect_request(client: uuid.UUID) -> bytes:
    return client.bytes_le


def parse_connect_request(data: bytes) -> uuid.UUID:
    if len(data) != CONNECT_REQUEST_SIZE:
        raise HostDataError(f"MEI connect request is {len(data)} bytes, not 16")
    return uuid.UUID(bytes_le=data)


def build_connect_reply(error: int, properties: ClientProperties | None = None) -> bytes:
    if properties is None:
        return _CONNECT_REPLY.pack(error, 0, 0)
    return _CONNECT_REPLY.pack(error, properties.max_message_length, properties.protocol_version)


def parse_connect_reply(data: bytes, client: uuid.UUID) -> ClientProperties:
    """The connect outcome; a non-zero errno raises :class:`MeiError` named like the kernel's."""
    if len(data) != CONNECT_REPLY_SIZE:
        raise MeiError(
            f"simulated MEI endpoint sent a {len(data)}-byte connect reply", errno_name="EPROTO"
        )
    error, length, version = _CONNECT_REPLY.unpack(data)
    if error:
        name = errno.errorcode.get(error, "EIO")
        raise MeiError(f"cannot connect to MEI client {client} ({name})", errno_name=name)
    return ClientProperties(max_message_length=length, protocol_version=version)
