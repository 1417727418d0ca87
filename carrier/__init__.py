"""The programmable carrier: SIP/RTP gateway, trunks, dialer and the records store."""

__version__ = "0.1.0"
