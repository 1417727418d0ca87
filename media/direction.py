"""The SDP direction of a media stream (hold and resume), from our side."""

from __future__ import annotations

from enum import Enum

__all__ = ["Direction"]


class Direction(Enum):
    """SDP direction attribute (RFC 3264 section 5.1), from our side."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)
