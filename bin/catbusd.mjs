#!/usr/bin/env node
import { run } from "./run.mjs";
// WebTransport (Deno.QuicEndpoint) is still behind --unstable-net.
run("server/main", ["run", "-A", "--unstable-net"]);
