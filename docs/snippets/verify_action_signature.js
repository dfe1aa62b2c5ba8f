// Verifies a Blaigent action request (see docs/actions.md).
// Usage: node verify_action_signature.js SECRET TIMESTAMP SIGNATURE_HEADER BODY_FILE
// Prints "valid" and exits 0, or prints "invalid" and exits 1.
const crypto = require("crypto");
const fs = require("fs");

const TOLERANCE_SECONDS = 300;

function verify(secret, timestamp, signatureHeader, rawBody) {
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return false;
  const expected = crypto
    .createHmac("sha256", secret)
    .update(Buffer.concat([Buffer.from(`${timestamp}.`), rawBody]))
    .digest("hex");
  return signatureHeader
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.startsWith("sha256="))
    .map((part) => Buffer.from(part.slice("sha256=".length)))
    .some((candidate) => candidate.length === expected.length && crypto.timingSafeEqual(candidate, Buffer.from(expected)));
}

const [secret, timestamp, header, path] = process.argv.slice(2);
const rawBody = fs.readFileSync(path); // the raw bytes, before any JSON parsing
const ok = verify(secret, timestamp, header, rawBody);
console.log(ok ? "valid" : "invalid");
process.exit(ok ? 0 : 1);
