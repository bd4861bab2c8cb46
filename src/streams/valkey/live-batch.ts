/** One live publication of the append script (see scripts.ts APPEND), parsed. */
export interface LiveBatch {
  epoch: string;
  base: number;
  firstSeq: number;
  entries: { seq: number; time: number; data: Uint8Array }[];
}

const NEWLINE = 10;
const decoder = new TextDecoder();

/** Parses "epoch base first\n" then "seq time length\n" + bytes per message; throws on junk. */
export function parseLiveBatch(bytes: Uint8Array): LiveBatch {
  let o = 0;
  const line = () => {
    const end = bytes.indexOf(NEWLINE, o);
    if (end < 0) throw new Error("truncated live batch");
    const words = decoder.decode(bytes.subarray(o, end)).split(" ");
    o = end + 1;
    return words;
  };
  const [epoch, base, firstSeq] = line();
  const batch: LiveBatch = { epoch, base: Number(base), firstSeq: Number(firstSeq), entries: [] };
  while (o < bytes.length) {
    const [seq, time, length] = line().map(Number);
    if (o + length > bytes.length) throw new Error("truncated live batch");
    batch.entries.push({ seq, time, data: bytes.subarray(o, o += length) });
  }
  return batch;
}
