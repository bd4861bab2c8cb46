/**
 * Headless Chromium for browser tests: Debian's `chromium` (never a downloaded browser), driven
 * by playwright-core. Without it the tests skip with a visible line, except under CI=true,
 * where a missing browser is a failure (.ci/run installs it).
 */
import { type Browser, chromium } from "playwright-core";

const EXECUTABLE = Deno.env.get("CATBUS_CHROMIUM") ?? "/usr/bin/chromium";

export async function launchChromium(testName: string): Promise<Browser | undefined> {
  try {
    await Deno.stat(EXECUTABLE);
  } catch {
    if (Deno.env.get("CI") === "true") {
      throw new Error(`${EXECUTABLE} is missing; install Debian's chromium (apt install chromium)`);
    }
    console.log(`SKIPPED ${testName}: no Chromium at ${EXECUTABLE} (apt install chromium)`);
    return undefined;
  }
  return await chromium.launch({
    executablePath: EXECUTABLE,
    // QUIC stays on: WebTransport needs it. The rest keeps Chromium off the (closed) network.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
