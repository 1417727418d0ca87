"""Optional fast path: ECDSA P-256 through the system OpenSSL (libcrypto 3.x).

Why: ``cryptography`` builds a fresh ``EVP_PKEY_CTX`` per operation with its own
bundled OpenSSL; on our reference machine that alone costs a third of the raw
sign rate. Here one context per key is initialised once and reused, exactly as
``openssl speed`` does, so the library's overhead is what the benchmark ratio
shows. Only the raw ECDSA operation on a SHA-256 digest goes through here; keys,
certificates and DER/raw conversions stay with ``cryptography``.

Safety: every call checks for exactly 1 (``EVP_PKEY_verify`` returns 0 for a bad
signature and a negative value for errors), clears the OpenSSL error queue on
any other result, and sizes every buffer. A context is not thread-safe; the
verifier and signer are used from one event loop. When libcrypto 3 cannot be
loaded, ``available()`` is False and callers use ``cryptography``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import weakref
from typing import Any

_SIG_MAX = 72  # DER ECDSA-Sig-Value for P-256 is at most 72 bytes
_OPENSSL_3 = 0x30000000

_c_size_t_p = ctypes.POINTER(ctypes.c_size_t)


@functools.cache
def _lib() -> Any:
    """The system libcrypto with prototypes set, or None."""
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        lib: Any = ctypes.CDLL(name)
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        if lib.OpenSSL_version_num() < _OPENSSL_3:
            return None
        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        lib.d2i_PUBKEY.restype = vp
        lib.d2i_PUBKEY.argtypes = [vp, ctypes.POINTER(cp), ctypes.c_long]
        lib.d2i_AutoPrivateKey.restype = vp
        lib.d2i_AutoPrivateKey.argtypes = [vp, ctypes.POINTER(cp), ctypes.c_long]
        lib.EVP_PKEY_free.argtypes = [vp]
        lib.EVP_PKEY_free.restype = None
        lib.EVP_PKEY_CTX_new.restype = vp
        lib.EVP_PKEY_CTX_new.argtypes = [vp, vp]
        lib.EVP_PKEY_CTX_free.argtypes = [vp]
        lib.EVP_PKEY_CTX_free.restype = None
        lib.EVP_PKEY_verify_init.argtypes = [vp]
        lib.EVP_PKEY_sign_init.argtypes = [vp]
        lib.EVP_PKEY_verify.argtypes = [vp, cp, ctypes.c_size_t, cp, ctypes.c_size_t]
        lib.EVP_PKEY_sign.argtypes = [vp, ctypes.c_char_p, _c_size_t_p, cp, ctypes.c_size_t]
        lib.ERR_clear_error.argtypes = []
        lib.ERR_clear_error.restype = None
    except (OSError, AttributeError):
        return None
    return lib


def available() -> bool:
    return _lib() is not None


class _Ctx:
    """One EVP_PKEY and its initialised EVP_PKEY_CTX, freed with the object."""

    def __init__(self, der: bytes, *, private: bool) -> None:
        lib = _lib()
        if lib is None:
            raise OSError("libcrypto 3 not available")
        buf = ctypes.c_char_p(der)
        loader = lib.d2i_AutoPrivateKey if private else lib.d2i_PUBKEY
        pkey = loader(None, ctypes.byref(buf), len(der))
        if not pkey:
            lib.ERR_clear_error()
            raise ValueError("libcrypto could not load the key")
        ctx = lib.EVP_PKEY_CTX_new(pkey, None)
        init = lib.EVP_PKEY_sign_init if private else lib.EVP_PKEY_verify_init
        if not ctx or init(ctx) != 1:
            lib.ERR_clear_error()
            if ctx:
                lib.EVP_PKEY_CTX_free(ctx)
            lib.EVP_PKEY_free(pkey)
            raise ValueError("libcrypto could not initialise the key")
        self._lib = lib
        self._ctx = ctx
        self._finalizer = weakref.finalize(self, _free, lib, ctx, pkey)


def _free(lib: Any, ctx: int, pkey: int) -> None:
    lib.EVP_PKEY_CTX_free(ctx)
    lib.EVP_PKEY_free(pkey)


class Verifier(_Ctx):
    def __init__(self, spki_der: bytes) -> None:
        super().__init__(spki_der, private=False)

    def verify(self, der_signature: bytes, digest: bytes) -> bool:
        """True only when OpenSSL says the DER signature is valid for the digest."""
        rc = self._lib.EVP_PKEY_verify(self._ctx, der_signature, len(der_signature), digest,
                                       len(digest))
        if rc != 1:
            self._lib.ERR_clear_error()
            return False
        return True


class Signer(_Ctx):
    def __init__(self, pkcs8_der: bytes) -> None:
        super().__init__(pkcs8_der, private=True)
        self._buf = ctypes.create_string_buffer(_SIG_MAX)
        self._len = ctypes.c_size_t()

    def sign(self, digest: bytes) -> bytes:
        """DER ECDSA signature of a SHA-256 digest; OSError if OpenSSL fails."""
        self._len.value = _SIG_MAX
        rc = self._lib.EVP_PKEY_sign(self._ctx, self._buf, ctypes.byref(self._len), digest,
                                     len(digest))
        if rc != 1 or not 0 < self._len.value <= _SIG_MAX:
            self._lib.ERR_clear_error()
            raise OSError("libcrypto ECDSA sign failed")
        return self._buf.raw[: self._len.value]
