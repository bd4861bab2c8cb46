/** One admin API route (the door contract's type: doors add routes of their own). */
export type { AdminRoute as Route } from "../../dialects/door.ts";
