/**
 * What a shared engine tells the other nodes after a purge (see EngineStream.purgeChannel), on
 * the namespace's live channel (Valkey) or doorbell (PostgreSQL): `!purge <throughSeq> <channel>`.
 * Live batches begin with an epoch (letters and digits), so the `!` tells the two apart.
 */
export interface PurgeNotice {
  channel: string;
  throughSeq: number;
}

const PREFIX = "!purge ";

export const purgeNotice = (channel: string, throughSeq: number): string =>
  `${PREFIX}${throughSeq} ${channel}`;

/** The notice in `text`, or undefined when it is something else. */
export function parsePurgeNotice(text: string): PurgeNotice | undefined {
  if (!text.startsWith(PREFIX)) return undefined;
  const space = text.indexOf(" ", PREFIX.length);
  const throughSeq = Number(text.slice(PREFIX.length, space));
  if (space < 0 || !Number.isSafeInteger(throughSeq)) return undefined;
  return { channel: text.slice(space + 1), throughSeq };
}

/** True when the bytes of a live publication are a purge notice. */
export const isPurgeNotice = (bytes: Uint8Array): boolean => bytes[0] === 0x21; // "!"
