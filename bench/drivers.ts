/**
 * One small client interface per benchmarked system, so every scenario runs the same code
 * against Catbus, NATS, Redis and Socket.IO. All drivers run in Deno (same runtime for all).
 */
import { connect as natsConnect } from "@nats-io/transport-node";
import { Valkey } from "iovalkey";
import { io as socketio } from "socket.io-client";
import { WebSocket as NodeWebSocket } from "ws";
import { CatbusClient, websocketTransport } from "../client/mod.ts";
import { tcpTransport } from "../client/deno-tcp.ts";

export interface BenchConn {
  /** Fire and forget. */
  publish(subject: string, data: Uint8Array): void;
  /** Resolves once the server has handled everything published before. */
  flush(): Promise<void>;
  subscribe(subject: string, onMessage: (data: Uint8Array) => void): Promise<void>;
  close(): Promise<void>;
}

export type SystemName = "catbus-tcp" | "catbus-ws" | "nats" | "redis" | "socketio";

export interface Endpoints {
  catbusTcp: string;
  catbusWs: string;
  catbusToken: string;
  nats: string;
  redis: string;
  socketio: string;
}

export function connectTo(system: SystemName, ep: Endpoints): Promise<BenchConn> {
  switch (system) {
    case "catbus-tcp":
      return catbus(ep.catbusTcp, ep.catbusToken, true);
    case "catbus-ws":
      return catbus(ep.catbusWs, ep.catbusToken, false);
    case "nats":
      return nats(ep.nats);
    case "redis":
      return redis(ep.redis);
    case "socketio":
      return socketIo(ep.socketio);
  }
}

async function catbus(url: string, token: string, tcp: boolean): Promise<BenchConn> {
  const client = new CatbusClient({
    url,
    token,
    autoReconnect: false,
    requestTimeout: 120_000,
    // Dead-peer detection as lax as nats.js's (a ping every 2 min): under load a server busy
    // with its subscribers answers a publisher's ping late, which is not a dead server.
    pingInterval: 120_000,
    // WebSocket through the `ws` package, as the Socket.IO client uses: Deno's built-in
    // WebSocket cannot set TCP_NODELAY (see BENCHMARKS.md notes).
    transport: tcp
      ? tcpTransport()
      : websocketTransport({ WebSocket: NodeWebSocket as unknown as typeof WebSocket }),
  });
  await client.connect();
  return {
    publish: (subject, data) => client.send(subject, data),
    flush: async () => {
      await client.ping();
    },
    subscribe: async (subject, onMessage) => {
      await client.subscribe(subject, (_c, payload) => onMessage(payload as Uint8Array));
    },
    close: () => client.disconnect(),
  };
}

async function nats(url: string): Promise<BenchConn> {
  const nc = await natsConnect({ servers: url });
  return {
    publish: (subject, data) => nc.publish(subject, data),
    flush: () => nc.flush(),
    subscribe: (subject, onMessage) => {
      nc.subscribe(subject, { callback: (_e, m) => onMessage(m.data) });
      return nc.flush();
    },
    close: () => nc.close(),
  };
}

async function redis(url: string): Promise<BenchConn> {
  const pub = new Valkey(url);
  let sub: Valkey | undefined;
  let last: Promise<unknown> = Promise.resolve();
  await pub.ping();
  return {
    publish: (subject, data) => {
      last = pub.publish(subject, Buffer.from(data.buffer, data.byteOffset, data.length));
    },
    flush: async () => {
      await last;
    },
    subscribe: async (subject, onMessage) => {
      sub = new Valkey(url);
      sub.on("messageBuffer", (_ch: Buffer, message: Buffer) => onMessage(message));
      await sub.subscribe(subject);
    },
    close: () => {
      pub.disconnect();
      sub?.disconnect();
      return Promise.resolve();
    },
  };
}

async function socketIo(url: string): Promise<BenchConn> {
  const socket = socketio(url, { transports: ["websocket"] });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  return {
    publish: (subject, data) => socket.emit("pub", subject, data),
    flush: () => new Promise<void>((resolve) => socket.emit("ping", () => resolve())),
    subscribe: (subject, onMessage) => {
      socket.on(
        "msg",
        (data: ArrayBuffer | Uint8Array) =>
          onMessage(data instanceof Uint8Array ? data : new Uint8Array(data)),
      );
      return new Promise<void>((resolve) => socket.emit("sub", subject, () => resolve()));
    },
    close: () => {
      socket.close();
      return Promise.resolve();
    },
  };
}
