// Runs an entry of this package under the project's own Deno, passing arguments, stdio, signals
// and the exit code through: the TypeScript source in a clone, the JavaScript build
// (tools/build-packages.ts) in an installed package, which ships no src/ (Deno runs no
// TypeScript from under node_modules).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";
import { denoPath } from "./deno-path.mjs";

/** `entry` is e.g. "server/main": src/server/main.ts, or dist/server/main.js once packed. */
export function run(entry, denoArgs = ["run", "-A"]) {
  const source = fileURLToPath(new URL(`../src/${entry}.ts`, import.meta.url));
  const script = existsSync(source)
    ? source
    : fileURLToPath(new URL(`../dist/${entry}.js`, import.meta.url));
  // node_modules beside the package (or above it, when installed), as in a clone's deno.json.
  const args = [...denoArgs, "--node-modules-dir=manual", script, ...process.argv.slice(2)];
  const child = spawn(denoPath(), args, {
    stdio: "inherit",
    // The child stops by itself when this process dies without passing a signal on (SIGKILL).
    env: { ...process.env, CATBUS_LAUNCHER_PID: String(process.pid) },
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => child.kill(signal));
  }
  // Under `npm start` a SIGTERM to npm ends the `sh -c` between npm and this process without
  // passing it on; this process is then re-parented: stop the child as if told to.
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    child.kill("SIGTERM");
  }, 500).unref();
  child.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
}
