/**
 * The console's static files (console/), read from beside this module. The packed server
 * (tools/build-packages.ts) carries them embedded in place of this module: it ships no src/.
 */
export const CONSOLE_FILES = ["index.html", "console.js", "console.css"] as const;
export type ConsoleFile = typeof CONSOLE_FILES[number];

export const consoleFile = (name: ConsoleFile): Promise<Uint8Array<ArrayBuffer>> =>
  Deno.readFile(new URL(`./console/${name}`, import.meta.url));
