// What never reaches a log record: secrets, by the name of the field that holds them and by
// the shape of the text (a bearer header, a PEM private key). Two layers, because each misses
// what the other catches: pino's redact paths are compiled and cheap but match exact names at
// fixed depths; the walker here matches any field whose name looks secret at any depth, and
// scrubs strings (messages, error texts) that carry a credential inline.

export const REDACTED = "[Redacted]";

/**
 * Field names whose value is a secret. The exact spellings used in this code base (tokens,
 * framework and agent secrets, the swarm key, private keys) and the common ones of HTTP and
 * libraries (authorization, cookie, password, api key).
 */
export const SECRET_FIELD_NAMES: readonly string[] = [
  "token",
  "accessToken",
  "refreshToken",
  "clusterToken",
  "bearer",
  "authorization",
  "Authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "password",
  "passwd",
  "passphrase",
  "secret",
  "secrets",
  "frameworkSecret",
  "framework_secret",
  "agentSecret",
  "agent_secret",
  "sessionSecret",
  "clientSecret",
  "client_secret",
  "privateKey",
  "private_key",
  "keyPem",
  "swarmKey",
  "swarm_key",
  "apiKey",
  "api_key",
  "x-api-key",
  "credentials",
  // The swarm's per-release credentials in tracker and seeder requests.
  "passkey",
  "grant",
];

/** A field name that looks like it holds a secret, whatever its case or prefix. */
const SECRET_NAME =
  /token|secret|passw(or)?d|passphrase|authori[sz]ation|cookie|private[-_]?key|key[-_]?pem|swarm[-_]?key|api[-_]?key|credential|bearer|passkey/i;

/** Names that match SECRET_NAME yet hold no secret: counting or naming one is not leaking it. */
const NOT_SECRET = /^(tokens?(Count|Used|Left)|secretsCount)$/;

export function isSecretFieldName(name: string): boolean {
  return SECRET_NAME.test(name) && !NOT_SECRET.test(name);
}

function pathSegment(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `["${name}"]`;
}

/**
 * pino redact paths: each secret name at the top of a record and one and two levels down
 * (`*.token`, `*.*.token`), which covers the `err` object the serializer builds too.
 */
export const REDACT_PATHS: readonly string[] = SECRET_FIELD_NAMES.flatMap((name) => {
  const seg = pathSegment(name);
  const top = seg.startsWith(".") ? seg.slice(1) : seg;
  return [top, `*${seg}`, `*.*${seg}`];
});

// Eight characters at least: "bearer token" or "basic setup" in a sentence is not a credential.
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]{8,}=*/gi;
const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?(-----END \1PRIVATE KEY-----|$)/g;
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+@/gi;

/** A string with inline credentials (bearer and basic headers, PEM private keys, user:pass@ in URLs) blanked. */
export function scrubSecretText(text: string): string {
  // Most strings hold none of these: one cheap test spares them three replaces.
  if (!/bearer|basic|PRIVATE KEY|:\/\//i.test(text)) return text;
  return text
    .replace(BEARER, (_m, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(PEM_PRIVATE_KEY, REDACTED)
    .replace(URL_PASSWORD, `$1${REDACTED}@`);
}

const MAX_DEPTH = 8;

/**
 * `value` with every secret-named field at any depth set to "[Redacted]" and every string
 * scrubbed. Never mutates its input (the caller's objects are live state); returns the same
 * object when nothing changed, so the common record costs one walk and no copy. Errors are
 * left to the error serializer, which scrubs them itself.
 */
export function redactSecrets<T>(value: T): T {
  return walk(value, 0, new Set()) as T;
}

function walk(value: unknown, depth: number, seen: Set<object>): unknown {
  if (typeof value === "string") return scrubSecretText(value);
  if (value === null || typeof value !== "object" || depth >= MAX_DEPTH) return value;
  if (value instanceof Error || ArrayBuffer.isView(value) || value instanceof Date) return value;
  if (seen.has(value)) return value;
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      value.forEach((item, i) => {
        const next = walk(item, depth + 1, seen);
        if (next !== item) {
          out ??= value.slice();
          out[i] = next;
        }
      });
      return out ?? value;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;
    let out: Record<string, unknown> | undefined;
    for (const [key, item] of Object.entries(value)) {
      const next = isSecretFieldName(key) && item !== undefined ? REDACTED : walk(item, depth + 1, seen);
      if (next !== item) {
        out ??= { ...(value as Record<string, unknown>) };
        out[key] = next;
      }
    }
    return out ?? value;
  } finally {
    seen.delete(value);
  }
}
