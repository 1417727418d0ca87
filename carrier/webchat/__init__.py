"""The patient web page: text chat and voice over WebRTC, its own ASGI app and port.

Kept light on import (``carrier.settings`` reads :mod:`carrier.webchat.settings`); the app
(:mod:`carrier.webchat.app`) and the WebRTC bridge (:mod:`carrier.webchat.rtc`, aiortc)
load only when ``webchat.enabled``.
"""
