// Finds the Deno binary that `npm install` put in node_modules (the pinned `deno` package).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export function denoPath() {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve("deno/package.json"));
  const exe = join(pkg, process.platform === "win32" ? "deno.exe" : "deno");
  if (existsSync(exe)) return exe;
  return require(join(pkg, "install_api.cjs")).runInstall();
}
