"""The lab's time-stamping authority (RFC 3161 over HTTP, RFC 3161 §3.4), built with asn1crypto.

It answers `application/timestamp-query` POSTs on http://127.<net>.0.80/tsr with a TimeStampResp: a CMS
SignedData over a TSTInfo (the request's imprint and nonce, a serial, the time), signed ECDSA P-256/SHA-256 with
the signed attributes RFC 5816 asks for (content type, message digest, ESSCertIDv2), by a certificate of the
lab CA whose only, critical, extended key usage is timeStamping. Never a real TSA: tests and the demo only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auditor.lab.https_server import Request, Route

POLICY = "1.3.6.1.4.1.55555.1.1"  # an arbitrary policy OID for the lab (no real TSA policy is claimed)
REPLY_TYPE = "application/timestamp-reply"


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


class LabTsa:
    """Signs with a key of its own, certified by the lab CA's issuing CA (`issuer_key`, `issuer`)."""

    def __init__(self, issuer_key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Auditor Lab Time-Stamping Authority"),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Auditor Lab")]))
            .issuer_name(issuer.subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )
        self.chain = [self.cert, issuer]
        self._serials = itertools.count(1)
        self.answered = 0

    def respond(self, query: bytes) -> bytes:
        """The TimeStampResp (DER) for a TimeStampReq; `rejection` with badDataFormat for anything else."""
        try:
            request = tsp.TimeStampReq.load(query)
            imprint = request["message_imprint"]
            imprint.native  # noqa: B018 - parse it all now: garbage must be refused here, not while signing
        except (ValueError, TypeError, KeyError):
            return tsp.TimeStampResp({"status": {"status": "rejection", "fail_info": {"bad_data_format"}}}).dump()
        info: dict[str, object] = {
            "version": "v1", "policy": POLICY, "message_imprint": imprint, "serial_number": next(self._serials),
            "gen_time": dt.datetime.now(dt.UTC).replace(microsecond=0),
        }
        if request["nonce"].native is not None:
            info["nonce"] = request["nonce"].native
        tst_info = tsp.TSTInfo(info)
        signed_attrs = cms.CMSAttributes([
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "message_digest", "values": [hashlib.sha256(tst_info.dump()).digest()]},
            {"type": "signing_certificate_v2",
             "values": [{"certs": [{"cert_hash": hashlib.sha256(_der(self.cert)).digest()}]}]},
        ])
        signature = self.key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        leaf = ax509.Certificate.load(_der(self.cert))
        signer = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": {"issuer": leaf.issuer,
                                                                     "serial_number": leaf.serial_number}}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": signature,
        })
        certificates = [ax509.Certificate.load(_der(c)) for c in self.chain] if request["cert_req"].native else []
        signed_data = cms.SignedData({
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(tst_info.dump())},
            **({"certificates": certificates} if certificates else {}),
            "signer_infos": [signer],
        })
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
        self.answered += 1
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()

    def route(self, request: Request) -> Route:
        if request.method != "POST":
            return Route(405, (("Allow", "POST"),), b"POST a time-stamp query\n")
        return Route(200, (("Content-Type", REPLY_TYPE),), self.respond(request.body))
