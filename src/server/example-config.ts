/**
 * `catbus.example.yaml`, written from the settings tables: every setting under its YAML key, at
 * its default, with its help and its flag and environment names; the ones off unless given are
 * commented out. A test compares the file in the repo with this, and loads it.
 */
import type { Setting, SettingsGroup } from "../core/settings.ts";
import { settingNames, showValue } from "../core/settings-resolve.ts";

const HEADER =
  `# catbusd configuration: every setting, at its default (catbusd --config catbus.example.yaml).
# Flags override the environment, which overrides this file. Settings that are off unless given
# are commented out. Written from the settings tables by tools/example-config.ts; do not edit by
# hand (a test fails when it differs).
`;

type AnySetting = Setting<unknown>;
interface Section {
  settings: [name: string, setting: AnySetting][];
  sections: Map<string, Section>;
}

const newSection = (): Section => ({ settings: [], sections: new Map() });

/** A value as YAML: numbers and booleans bare, lists as flow sequences, the rest quoted. */
function yamlValue(s: AnySetting, value: unknown): string {
  if (Array.isArray(value)) return JSON.stringify(value);
  if ((typeof value === "number" || typeof value === "boolean") && !s.kind.show) {
    return String(value);
  }
  return JSON.stringify(showValue(s, value));
}

function write(section: Section, indent: string, out: string[]) {
  for (const [name, s] of section.settings) {
    const { env } = settingNames(s);
    out.push(
      "",
      `${indent}# ${s.help}`,
      `${indent}# --${s.flag}${env.length ? `, ${env.join(", ")}` : ""}`,
      s.default === undefined
        ? `${indent}# ${name}:`
        : `${indent}${name}: ${yamlValue(s, s.default)}`,
    );
  }
  for (const [name, child] of section.sections) {
    out.push("", `${indent}${name}:`);
    write(child, indent + "  ", out);
  }
}

export function exampleConfig(groups: readonly SettingsGroup[]): string {
  const root = newSection();
  for (const s of groups.flatMap((g) => Object.values(g.settings))) {
    const path = s.yaml.split(".");
    let section = root;
    for (const part of path.slice(0, -1)) {
      let child = section.sections.get(part);
      if (!child) section.sections.set(part, child = newSection());
      section = child;
    }
    section.settings.push([path[path.length - 1], s]);
  }
  const out: string[] = [];
  write(root, "", out);
  return HEADER + out.join("\n") + "\n";
}
