// Runs a TypeScript entry of this package under the project's own Deno, passing arguments,
// stdio, signals and the exit code through.
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";
import { denoPath } from "./deno-path.mjs";

export function run(entry, denoArgs = ["run", "-A"]) {
  const script = fileURLToPath(new URL(`../${entry}`, import.meta.url));
  const child = spawn(denoPath(), [...denoArgs, script, ...process.argv.slice(2)], {
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
