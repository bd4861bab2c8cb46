/**
 * A short-lived self-signed ECDSA P-256 certificate, built with Web Crypto and a little DER.
 * Browsers accept such a certificate for WebTransport without a CA when the page pins its
 * SHA-256 hash (`serverCertificateHashes`), if it is valid for at most 14 days.
 */
import { base64, concat } from "../../client/shared/bytes.ts";

export interface SelfSignedCert {
  /** PEM certificate and PKCS#8 private key, as TLS listeners take them. */
  cert: string;
  key: string;
  /** SHA-256 of the DER certificate: what browsers pin. */
  sha256: Uint8Array;
  notAfter: number;
}

const DAY = 86_400_000;

// ---- DER encoding: just what a certificate needs ----

function length(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

const tlv = (tag: number, ...content: Uint8Array[]) => {
  const body = concat(content);
  return concat([Uint8Array.of(tag), length(body.length), body]);
};
const sequence = (...items: Uint8Array[]) => tlv(0x30, ...items);
const set = (...items: Uint8Array[]) => tlv(0x31, ...items);
const octetString = (bytes: Uint8Array) => tlv(0x04, bytes);
const bitString = (bytes: Uint8Array) => tlv(0x03, Uint8Array.of(0), bytes);
const utf8String = (text: string) => tlv(0x0c, new TextEncoder().encode(text));

/** An unsigned big-endian integer: no redundant leading zeros, a zero added before a high bit. */
function integer(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.subarray(i);
  return tlv(
    0x02,
    trimmed[0] & 0x80 ? concat([Uint8Array.of(0), trimmed]) : trimmed,
  );
}

function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** UTCTime, YYMMDDHHMMSSZ (valid for years 1950–2049). */
function utcTime(ms: number): Uint8Array {
  const iso = new Date(ms).toISOString();
  const text = iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10) +
    iso.slice(11, 13) +
    iso.slice(14, 16) + iso.slice(17, 19) + "Z";
  return tlv(0x17, new TextEncoder().encode(text));
}

const ECDSA_WITH_SHA256 = sequence(oid("1.2.840.10045.4.3.2"));

/** Web Crypto's ECDSA signature is r‖s; X.509 wants SEQUENCE { INTEGER r, INTEGER s }. */
const derSignature = (raw: Uint8Array) =>
  sequence(integer(raw.subarray(0, 32)), integer(raw.subarray(32)));

function pem(label: string, der: Uint8Array): string {
  const b64 = base64(der).match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function ipBytes(address: string): Uint8Array | undefined {
  const v4 = address.split(".");
  if (v4.length === 4 && v4.every((p) => /^\d{1,3}$/.test(p))) {
    return Uint8Array.from(v4.map(Number));
  }
  if (address === "::1") return Uint8Array.of(...new Array(15).fill(0), 1);
  return undefined;
}

/**
 * Makes a certificate for `names` (DNS names and IPv4 addresses, plus ::1), valid from an hour
 * ago for `days` days (at most 14).
 */
export async function createSelfSignedCert(
  names: string[] = ["localhost", "127.0.0.1", "::1"],
  days = 10,
  now = Date.now(),
): Promise<SelfSignedCert> {
  if (days > 14) {
    throw new RangeError("browsers pin certificates valid for at most 14 days");
  }
  const keys = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    [
      "sign",
      "verify",
    ],
  ) as CryptoKeyPair;
  const spki = new Uint8Array(
    await crypto.subtle.exportKey("spki", keys.publicKey),
  );
  const pkcs8 = new Uint8Array(
    await crypto.subtle.exportKey("pkcs8", keys.privateKey),
  );
  const name = sequence(set(sequence(oid("2.5.4.3"), utf8String("catbusd"))));
  const altNames = names.map((n) => {
    const ip = ipBytes(n);
    return ip ? tlv(0x87, ip) : tlv(0x82, new TextEncoder().encode(n));
  });
  const notBefore = now - 3_600_000;
  const notAfter = notBefore + days * DAY;
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f;
  const tbs = sequence(
    tlv(0xa0, integer(Uint8Array.of(2))), // version 3
    integer(serial),
    ECDSA_WITH_SHA256,
    name,
    sequence(utcTime(notBefore), utcTime(notAfter)),
    name,
    spki,
    tlv(
      0xa3,
      sequence(
        sequence(oid("2.5.29.17"), octetString(sequence(...altNames))),
        sequence(
          oid("2.5.29.19"),
          tlv(0x01, Uint8Array.of(0xff)),
          octetString(sequence()),
        ),
      ),
    ),
  );
  const signature = new Uint8Array(
    await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      keys.privateKey,
      tbs as BufferSource,
    ),
  );
  const der = sequence(
    tbs,
    ECDSA_WITH_SHA256,
    bitString(derSignature(signature)),
  );
  return {
    cert: pem("CERTIFICATE", der),
    key: pem("PRIVATE KEY", pkcs8),
    sha256: new Uint8Array(
      await crypto.subtle.digest("SHA-256", der as BufferSource),
    ),
    notAfter,
  };
}
