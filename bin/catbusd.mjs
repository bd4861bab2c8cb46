#!/usr/bin/env node
import { run } from "./run.mjs";
// WebTransport (Deno.QuicEndpoint) is still behind --unstable-net.
run("src/server/main.ts", ["run", "-A", "--unstable-net"]);
