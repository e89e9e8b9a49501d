"""TLS for the `api-ssl` service: anonymous Diffie-Hellman as RouterOS does without a
certificate, or a self-signed certificate made at run time that a client can be told to trust.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import shutil
import ssl
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)

# ADH suites exist only up to TLS 1.2, and OpenSSL hides them below security level 0.
ANONYMOUS_CIPHERS = (
    "ADH-AES256-GCM-SHA384:ADH-AES128-GCM-SHA256:ADH-AES256-SHA256:ADH-AES128-SHA256:"
    "ADH-AES256-SHA:ADH-AES128-SHA:@SECLEVEL=0"
)

# The ffdhe2048 group of RFC 7919: fixed public parameters, so nothing slow runs at start-up.
FFDHE2048_PEM = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


def anonymous_server_context(workdir: Path) -> ssl.SSLContext:
    """A server context that offers only anonymous DH, like `api-ssl` with no certificate."""
    params = workdir / "ffdhe2048.pem"
    params.write_text(FFDHE2048_PEM)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ANONYMOUS_CIPHERS)
    context.load_dh_params(str(params))
    return context


def anonymous_client_context() -> ssl.SSLContext:
    """What a client needs to reach an ADH router: no certificate check, ADH allowed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ANONYMOUS_CIPHERS)
    return context


def certificate_server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert_path), str(key_path))
    return context


def make_self_signed(workdir: Path, host: str) -> tuple[Path, Path]:
    """Write a self-signed certificate for `host` (its own CA) and its key; return both paths."""
    cert_path, key_path = workdir / "router-cert.pem", workdir / "router-key.pem"
    try:
        _make_with_cryptography(cert_path, key_path, host)
    except ImportError:
        _make_with_openssl(cert_path, key_path, host)
    logger.debug("self-signed certificate for %s written to %s", host, cert_path)
    return cert_path, key_path


def _make_with_cryptography(cert_path: Path, key_path: Path, host: str) -> None:
    from cryptography import x509  # noqa: PLC0415 (an optional dependency)
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    if _is_ip(host):
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    else:
        alt = x509.DNSName(host)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([alt, x509.DNSName("localhost")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _make_with_openssl(cert_path: Path, key_path: Path, host: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("tls_cert needs the `cryptography` package or the openssl command")

    kind = "IP" if _is_ip(host) else "DNS"
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key_path), "-out", str(cert_path), "-days", "30",
        "-subj", f"/CN={host}", "-addext", f"subjectAltName={kind}:{host},DNS:localhost",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 (fixed arguments)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
