// The Socket.IO peer for the benchmarks: a plain relay (rooms per subject), run under Node.
import { createServer } from "node:http";
import { Server } from "socket.io";

const http = createServer();
const io = new Server(http, { transports: ["websocket"], maxHttpBufferSize: 1e8 });
io.on("connection", (socket) => {
  socket.on("sub", (subject, ack) => {
    socket.join(subject);
    ack?.();
  });
  socket.on("pub", (subject, data) => io.to(subject).emit("msg", data));
  socket.on("ping", (ack) => ack?.());
});
http.listen(0, "127.0.0.1", () => console.log(`listening ${http.address().port}`));
