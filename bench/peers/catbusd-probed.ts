/** catbusd with the memory probe of bench/peers/memory-probe.ts: same arguments as catbusd. */
import { installMemoryProbe } from "./memory-probe.ts";

installMemoryProbe();
await import("../../src/server/main.ts");
