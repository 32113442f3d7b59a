"""The whole mewarden exception tree.

Every error mewarden raises on purpose derives from :class:`MewardenError`. Each class says

* ``retryable``: whether doing the same thing again later can succeed (a timeout can; a wrong
  password cannot), which the fleet API and the heal controller use to decide on retries;
* ``exit_code``: what the CLI exits with, so scripts can tell failures apart.

The CLI prints ``str(error)`` on one line and never a traceback. Messages must therefore be
complete sentences a user can act on, and must never contain a secret.

Exit codes (stable, documented in README):

====  ==========================================================
  1   unexpected internal error (a bug: please report it)
  2   bad input: unreadable or malformed file, bad option value
  3   refused as unsafe (neutralize on a Boot Guard image, ...)
  4   AMT/host unreachable (connection refused or dropped, MEI exchange failed)
  5   authentication failed
  6   device busy (retry later)
  7   operation unsupported by the device or firmware
  8   TLS certificate pin mismatch
  9   protocol error: malformed reply, unexpected HTTP status, non-zero ReturnValue
 10   org state error (unknown node, duplicate, lease lost)
 11   vault error (wrong or corrupt org key)
 12   an external tool failed (flashrom, nft, ...)
 13   remediation held back by a guard rail (not a failure of the tool)
 14   AMT device accepted the connection but did not answer in time
 15   SOAP fault from the AMT device
 16   TLS handshake with the AMT device failed (cipher/version mismatch, not TLS)
====  ==========================================================
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy reads this as True
if TYPE_CHECKING:
    from typing import ClassVar


class MewardenError(Exception):
    """Root of every error mewarden raises on purpose."""

    retryable: ClassVar[bool] = False
    exit_code: ClassVar[int] = 1


# --- input and configuration -------------------------------------------------------------------


class BadInputError(MewardenError):
    """The user gave something mewarden cannot use (a file, an option value)."""

    exit_code = 2


class ConfigError(BadInputError):
    """Configuration is missing or contradictory."""


class RefusedError(MewardenError):
    """mewarden refuses to do something because it would be unsafe."""

    exit_code = 3


# --- firmware ----------------------------------------------------------------------------------


class FirmwareError(MewardenError):
    """Base for firmware image problems."""

    exit_code = 2


class FirmwareFormatError(FirmwareError):
    """The bytes are not a well-formed image of the kind expected.

    ``offset`` is where in the file parsing stopped, when known.
    """

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        where = f" (at offset {offset:#x})" if offset is not None else ""
        super().__init__(f"{message}{where}")
        self.offset = offset


class UnsupportedFirmwareError(FirmwareError):
    """A well-formed image of a generation or layout mewarden does not handle."""


class NeutralizeRefusedError(RefusedError):
    """Neutralizing this image could brick the machine, so mewarden will not."""


# --- live host (sysfs, PCI config space, MEI) ------------------------------------------------


class HostDataError(BadInputError):
    """Data read from the host or a recorded tree (fw_status, config space, MEI) is malformed."""


class AmthiStatusError(HostDataError):
    """An AMTHI reply was well formed but carried a non-zero status (``status``)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class MeiError(MewardenError):
    """A MEI/HECI exchange with a firmware client failed (no such client, busy, timeout).

    ``errno_name`` is the symbolic errno (``ENOTTY``, ``EBUSY``, ...) when the kernel gave one.
    """

    exit_code = 4

    def __init__(self, message: str, *, errno_name: str = "") -> None:
        super().__init__(message)
        self.errno_name = errno_name


class MeiUnavailableError(MeiError):
    """This machine has no usable MEI device (no HECI function, driver not loaded, no node):
    AMT cannot be reached locally here, which retrying will not change."""

    exit_code = 7


# --- external tools ----------------------------------------------------------------------------


class ExternalToolError(MewardenError):
    """A system tool (flashrom, nft, ...) is missing or failed."""

    exit_code = 12


# --- network / AMT -----------------------------------------------------------------------------


class AmtError(MewardenError):
    """Base for errors talking to Intel AMT."""

    exit_code = 9


class AmtUnreachableError(AmtError):
    """Connection refused or dropped; the subclasses say when it timed out or TLS failed."""

    retryable = True
    exit_code = 4


class AmtTimeoutError(AmtUnreachableError):
    """The device did not answer (or finish a connect/handshake) in time.

    A kind of unreachable for ``except``, with its own exit code: scripts can tell a slow or
    hung device from one that refuses connections.
    """

    exit_code = 14


class AmtTlsHandshakeError(AmtUnreachableError):
    """The TCP connection worked but the TLS handshake did not (old firmware without
    ``--legacy-ciphers``, or plain HTTP on the port). Doing the same again will not help."""

    retryable = False
    exit_code = 16


class AmtAuthError(AmtError):
    """The device rejected the credentials after a fresh challenge."""

    exit_code = 5


class AmtBusyError(AmtError):
    """The device answered that it is busy (concurrency fault, ReturnValue BUSY)."""

    retryable = True
    exit_code = 6


class AmtUnsupportedError(AmtError):
    """The device or its firmware version does not support the operation."""

    exit_code = 7


class TlsPinMismatchError(AmtError):
    """The device's certificate does not match the pinned SHA-256 fingerprint."""

    exit_code = 8


class WsmanError(AmtError):
    """Malformed WS-MAN: what we sent or what we got back cannot be understood."""


class WsmanFaultError(WsmanError):
    """The device answered with a SOAP fault (its own exit code: the request was understood
    and refused, unlike a malformed reply)."""

    exit_code = 15

    def __init__(
        self, message: str, *, code: str = "", subcode: str = "", detail: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.detail = detail


class RedirectionProtocolError(AmtError):
    """Malformed or unexpected bytes on AMT's redirection port (SOL, KVM, IDE-R; 16994/16995)."""


class AmtReturnValueError(AmtError):
    """A method returned a non-zero ReturnValue."""

    def __init__(self, message: str, *, return_value: int) -> None:
        super().__init__(message)
        self.return_value = return_value


# --- org state, vault, controller -------------------------------------------------------------


class StateError(MewardenError):
    """Org state is missing, inconsistent, or was changed by someone else."""

    exit_code = 10


class NodeNotFoundError(StateError):
    """No node of that name in org state."""


class DuplicateError(StateError):
    """Something with that name or address already exists."""


class LeaseLostError(StateError):
    """Another controller holds the node now (our fencing epoch is stale)."""

    retryable = True


class VaultError(MewardenError):
    """The org key is wrong, missing or corrupt, or a secret failed to decrypt."""

    exit_code = 11


class RemediationBlockedError(MewardenError):
    """A guard rail held an action back; this is a decision, not a failure."""

    retryable = True
    exit_code = 13


# --- mewarden peers (a node's heartbeat sender talking to a controller) ------------------------


class PeerError(MewardenError):
    """A mewarden peer (a controller's heartbeat receiver) answered wrongly.

    The exit codes are those of the same kind of AMT failure, so scripts need one table.
    """

    exit_code = 9


class PeerUnreachableError(PeerError):
    """No connection, a hang-up, or no answer in time."""

    retryable = True
    exit_code = 4


class PeerAuthError(PeerError):
    """The peer rejected our signature (wrong or replaced key)."""

    exit_code = 5


class PeerBusyError(PeerError):
    """The peer could not take the request now (it said so)."""

    retryable = True
    exit_code = 6
