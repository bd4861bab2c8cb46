#!/usr/bin/env node
// `deno` for npm scripts: the pinned binary from node_modules, whatever is on PATH.
import { spawnSync } from "node:child_process";
import { denoPath } from "./deno-path.mjs";
const result = spawnSync(denoPath(), process.argv.slice(2), { stdio: "inherit" });
process.exit(result.status ?? 1);
