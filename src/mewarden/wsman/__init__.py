"""Sans-IO WS-MAN: request envelopes, response parsing, faults and wire constants."""
