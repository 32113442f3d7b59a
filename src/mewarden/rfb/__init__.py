"""RFB (the VNC protocol, RFC 6143) as AMT's KVM speaks it: a pure, sans-IO codec.

* :mod:`pixels`: pixel formats (32-bit true colour, AMT's RGB565 / RGB332 and grey) and
  conversion between wire pixels and RGB arrays.
* :mod:`messages`: wire values and the fixed-layout messages.
* :mod:`vncauth`: VNC Authentication (DES challenge-response).
* :mod:`intel_rle`: Intel's RLE rectangle encoding (RFB encoding 16 on AMT).
* :mod:`server` / :mod:`client`: connection state machines (bytes in, events out).

Nothing here opens a socket, sleeps or reads a clock.
"""
