#!/usr/bin/env node
import { run } from "./run.mjs";
run("src/server/main.ts");
