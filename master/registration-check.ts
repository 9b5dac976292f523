// Checks an agent's registration before the master believes a word of it.
import type { Register } from "../proto/gen/yard/v1/agent.js";

/** The first problem with `reg`, naming the field and the value, or undefined when it is sound. */
export function validateRegistration(reg: Register): string | undefined {
  const info = reg.info;
  if (!info) return "info is required";
  if (!info.hostname) return "info.hostname must not be empty";
  const r = info.resources;
  if (!r) return "info.resources is required";
  for (const name of ["cpus", "mem", "disk"] as const) {
    if (!Number.isFinite(r[name]) || r[name] < 0)
      return `info.resources.${name}: ${r[name]} is not a valid amount`;
  }
  for (const p of r.ports) {
    if (p.begin > p.end || p.end > 65535)
      return `info.resources.ports: ${p.begin}-${p.end} is not a valid range`;
  }
  return undefined;
}
