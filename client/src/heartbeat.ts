/** How long a page that became visible waits for the server's pong before reconnecting. */
const VISIBLE_CHECK_MS = 5000;

export interface HeartbeatPeer {
  /** performance.now() when the server last sent anything. */
  lastHeard(): number;
  /** Whether this side sent anything since the last call (a flag: sends are per message). */
  sentSinceAsked(): boolean;
  /** Sends a ping (its answer moves `lastHeard`). */
  ping(): void;
  /** The server was silent this long (ms): give the connection up. */
  dead(silentMs: number): void;
}

/**
 * Dead-peer detection for one connection: pings once the server was silent for `interval`; no
 * answer for another interval, the connection is dead (a frozen or vanished server, whose socket
 * may never report a close). It also pings once this side sent nothing for `interval`: the server
 * drops a connection it heard nothing from for three heartbeats, and a subscriber that only
 * receives would otherwise never send. In browsers, a page becoming visible checks at once:
 * background tabs throttle timers. Returns the function that stops it.
 */
export function startHeartbeat(interval: number, peer: HeartbeatPeer): () => void {
  /** When the unanswered ping left; a late (throttled) tick only pings, never drops. */
  let pingedAt: number | undefined;
  /** When a tick last saw something sent (to within half an interval). */
  let sentAt = performance.now();
  let stopped = false;
  const timer = setInterval(() => {
    const now = performance.now();
    if (peer.sentSinceAsked()) sentAt = now;
    if (pingedAt !== undefined && peer.lastHeard() >= pingedAt) pingedAt = undefined;
    if (pingedAt !== undefined) {
      if (now - pingedAt >= interval) peer.dead(now - peer.lastHeard());
    } else if (now - peer.lastHeard() >= interval || now - sentAt >= interval) {
      pingedAt = now;
      peer.ping();
    }
  }, Math.max(5, interval / 2));
  const doc = (globalThis as { document?: Document }).document;
  const onVisible = () => {
    if (doc!.visibilityState !== "visible" || stopped) return;
    const asked = performance.now();
    peer.ping();
    const wait = Math.min(interval, VISIBLE_CHECK_MS);
    setTimeout(() => {
      if (!stopped && peer.lastHeard() < asked) peer.dead(wait);
    }, wait);
  };
  doc?.addEventListener?.("visibilitychange", onVisible);
  return () => {
    stopped = true;
    clearInterval(timer);
    doc?.removeEventListener?.("visibilitychange", onVisible);
  };
}
