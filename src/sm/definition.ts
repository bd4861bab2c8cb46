import { badRequest } from "./errors.ts";
import { type GuardExpr, GuardSyntaxError, parseGuard } from "./guard.ts";

/** A machine definition as clients send it (rstmdb's shape). */
export interface MachineDefinition {
  states: string[];
  initial: string;
  transitions: TransitionDefinition[];
  meta?: unknown;
}

export interface TransitionDefinition {
  from: string | string[];
  event: string;
  to: string;
  guard?: string;
}

export interface CompiledTransition {
  to: string;
  guard?: GuardExpr;
}

/** A validated definition with its transitions indexed by (state, event) and guards parsed. */
export interface CompiledMachine {
  definition: MachineDefinition;
  states: ReadonlySet<string>;
  /** Key: `${state}\u0000${event}`; a (state, event) pair appears once (as in rstmdb). */
  transitions: ReadonlyMap<string, CompiledTransition>;
}

export const transitionKey = (state: string, event: string) => `${state}\u0000${event}`;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);
const isName = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/**
 * Validates `raw` and compiles it; every problem names where it is. `stored`: a definition
 * read back from the WAL or a snapshot, where a duplicate (state, event) accepted by an earlier
 * version keeps its first transition instead of failing start-up.
 */
export function compileDefinition(raw: unknown, stored = false): CompiledMachine {
  if (!isObject(raw)) {
    throw badRequest("definition must be an object {states, initial, transitions}");
  }
  const { states, initial, transitions, meta } = raw;
  if (!Array.isArray(states) || states.length === 0 || !states.every(isName)) {
    throw badRequest("definition.states must be a non-empty list of non-empty strings");
  }
  const stateSet = new Set<string>(states);
  if (stateSet.size !== states.length) {
    const dup = states.find((s, i) => states.indexOf(s) !== i);
    throw badRequest(`definition.states lists "${dup}" twice`);
  }
  if (!isName(initial) || !stateSet.has(initial)) {
    throw badRequest(`definition.initial ${JSON.stringify(initial)} must be one of the states`);
  }
  if (!Array.isArray(transitions)) throw badRequest("definition.transitions must be a list");
  const compiled = new Map<string, CompiledTransition>();
  const cleanTransitions: TransitionDefinition[] = transitions.map((t, i) => {
    const where = `definition.transitions[${i}]`;
    if (!isObject(t)) throw badRequest(`${where} must be an object {from, event, to, guard?}`);
    const froms = Array.isArray(t.from) ? t.from : [t.from];
    if (froms.length === 0) throw badRequest(`${where}.from must name at least one state`);
    for (const f of froms) {
      if (!isName(f) || !stateSet.has(f)) {
        throw badRequest(`${where}.from ${JSON.stringify(f)} is not one of the states`);
      }
    }
    if (!isName(t.event)) throw badRequest(`${where}.event must be a non-empty string`);
    if (!isName(t.to) || !stateSet.has(t.to)) {
      throw badRequest(`${where}.to ${JSON.stringify(t.to)} is not one of the states`);
    }
    if (t.guard !== undefined && typeof t.guard !== "string") {
      throw badRequest(`${where}.guard must be a string such as "ctx.amount <= 1000"`);
    }
    let guard: GuardExpr | undefined;
    try {
      guard = t.guard === undefined || t.guard.trim() === "" ? undefined : parseGuard(t.guard);
    } catch (e) {
      if (!(e instanceof GuardSyntaxError)) throw e;
      throw badRequest(`${where}.${e.message}`, { ...e.details, transition: i });
    }
    for (const f of froms as string[]) {
      const key = transitionKey(f, t.event);
      if (compiled.has(key)) {
        if (stored) continue;
        throw badRequest(
          `${where}: duplicate transition from "${f}" on event "${t.event}" (an earlier ` +
            "transition has the same state and event); merge them or use another event",
          { transition: i },
        );
      }
      compiled.set(key, { to: t.to, guard });
    }
    return {
      from: t.from as string | string[],
      event: t.event,
      to: t.to,
      ...(t.guard !== undefined ? { guard: t.guard } : {}),
    };
  });
  const definition: MachineDefinition = {
    states: states as string[],
    initial,
    transitions: cleanTransitions,
    ...(meta !== undefined ? { meta } : {}),
  };
  return { definition, states: stateSet, transitions: compiled };
}
