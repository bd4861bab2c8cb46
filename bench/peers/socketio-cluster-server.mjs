// The Socket.IO peer of the cluster benchmark: the same relay as socketio-server.mjs, with the
// Redis streams adapter (@socket.io/redis-streams-adapter) on iovalkey, so several processes
// share rooms through one Redis. REDIS_URL names the server.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { Redis } from "iovalkey";

const redis = new Redis(process.env.REDIS_URL);
const http = createServer();
const io = new Server(http, {
  transports: ["websocket"],
  maxHttpBufferSize: 1e8,
  adapter: createAdapter(redis),
});
io.on("connection", (socket) => {
  socket.on("sub", (subject, ack) => {
    socket.join(subject);
    ack?.();
  });
  socket.on("pub", (subject, data) => io.to(subject).emit("msg", data));
  socket.on("ping", (ack) => ack?.());
});
http.listen(0, "127.0.0.1", () => console.log(`listening ${http.address().port}`));
