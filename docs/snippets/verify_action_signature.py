"""Verifies a Blaigent action request (see docs/actions.md).

Usage: python3 verify_action_signature.py SECRET TIMESTAMP SIGNATURE_HEADER BODY_FILE
Prints "valid" and exits 0, or prints "invalid" and exits 1.
"""
import hashlib
import hmac
import sys
import time

TOLERANCE_SECONDS = 300


def verify(secret: str, timestamp: str, signature_header: str, body: bytes) -> bool:
    """True when one sha256= value of the header is the HMAC of "{timestamp}.{body}"."""
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    candidates = [p.strip()[len("sha256="):] for p in signature_header.split(",") if p.strip().startswith("sha256=")]
    return any(hmac.compare_digest(expected, c) for c in candidates)


if __name__ == "__main__":
    secret, timestamp, header, path = sys.argv[1:5]
    with open(path, "rb") as f:
        raw_body = f.read()  # the raw bytes, before any JSON parsing
    ok = verify(secret, timestamp, header, raw_body)
    print("valid" if ok else "invalid")
    sys.exit(0 if ok else 1)
