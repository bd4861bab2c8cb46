import type { Instance, MachineVersion } from "./state.ts";

/** How instances and machines look in RCP results (rstmdb's field names). */
export const instanceView = (i: Instance) => ({
  instance_id: i.id,
  machine: i.machine,
  version: i.version,
  state: i.state,
  ctx: i.ctx,
  ...(i.lastEventId !== undefined ? { last_event_id: i.lastEventId } : {}),
  last_wal_offset: i.lastWalOffset,
  created_at: i.createdAt,
  updated_at: i.updatedAt,
  ...(i.deleted ? { deleted: true } : {}),
});

export const instanceListItem = (i: Instance) => ({
  id: i.id,
  machine: i.machine,
  version: i.version,
  state: i.state,
  created_at: i.createdAt,
  updated_at: i.updatedAt,
  last_wal_offset: i.lastWalOffset,
});

export const machineView = (m: MachineVersion) => ({
  machine: m.machine,
  version: m.version,
  definition: m.compiled.definition,
  checksum: m.checksum,
});
