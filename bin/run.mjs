// Runs a TypeScript entry of this package under the project's own Deno, passing arguments,
// stdio, signals and the exit code through.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { denoPath } from "./deno-path.mjs";

export function run(entry, denoArgs = ["run", "-A"]) {
  const script = fileURLToPath(new URL(`../${entry}`, import.meta.url));
  const child = spawn(denoPath(), [...denoArgs, script, ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => child.kill(signal));
  }
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}
