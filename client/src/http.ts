/** The HTTP origin of a server URL: `ws(s)://`, `http(s)://` → `http(s)://host:port`. */
export function httpBase(url: string): string {
  const u = new URL(url);
  const secure = u.protocol === "https:" || u.protocol === "wss:";
  return `${secure ? "https" : "http"}://${u.host}`;
}

/** Base64 text → bytes (the SSE transport's frames, a certificate hash). */
export const fromBase64 = (text: string): Uint8Array =>
  Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
