// Names of releases and what a push may carry. A release is named NAME@VERSION; the same
// pattern is what agents accept as a cache directory name, so it admits no path separators.
import { InvalidArgumentError } from "../../common/errors.js";

export const RELEASE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const RELEASE_VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export type ReleaseKind = "file" | "tar" | "docker-image";
export const RELEASE_KINDS: readonly ReleaseKind[] = ["file", "tar", "docker-image"];

export interface ReleaseRef {
  name: string;
  version: string;
}

/** "NAME@VERSION" of a ref. */
export function releaseKey(ref: ReleaseRef): string {
  return `${ref.name}@${ref.version}`;
}

/** Parses NAME@VERSION; `field` names the request field in the error. */
export function parseReleaseRef(text: string, field = "release"): ReleaseRef {
  const at = text.indexOf("@");
  const name = at < 0 ? text : text.slice(0, at);
  const version = at < 0 ? "" : text.slice(at + 1);
  if (at < 0 || !RELEASE_NAME_PATTERN.test(name) || !RELEASE_VERSION_PATTERN.test(version)) {
    throw new InvalidArgumentError(
      field,
      `"${text}" is not NAME@VERSION (NAME: letters, digits, . _ -; VERSION: also +)`,
    );
  }
  return { name, version };
}

export function checkName(name: string, field = "name"): string {
  if (!RELEASE_NAME_PATTERN.test(name)) {
    throw new InvalidArgumentError(field, `"${name}" is not a release name (letters, digits, . _ -)`);
  }
  return name;
}

export function checkVersion(version: string, field = "version"): string {
  if (!RELEASE_VERSION_PATTERN.test(version)) {
    throw new InvalidArgumentError(field, `"${version}" is not a version (letters, digits, . _ - +)`);
  }
  return version;
}

/** An empty kind means "file". */
export function checkKind(kind: string, field = "kind"): ReleaseKind {
  if (kind === "") return "file";
  if (!(RELEASE_KINDS as readonly string[]).includes(kind)) {
    throw new InvalidArgumentError(field, `"${kind}" is not one of ${RELEASE_KINDS.join(", ")}`);
  }
  return kind as ReleaseKind;
}

/**
 * The name of the file inside the torrent (what a BitTorrent client saves). Given names are
 * checked to be one plain file name; without one it is NAME-VERSION plus ".tar" for tarballs.
 */
export function torrentFileName(
  ref: ReleaseRef,
  kind: ReleaseKind,
  given: string,
  field = "file_name",
): string {
  if (given === "") return `${ref.name}-${ref.version}${kind === "file" ? "" : ".tar"}`;
  if (given.length > 255 || given === "." || given === ".." || /[/\\\0]/.test(given)) {
    throw new InvalidArgumentError(field, `"${given}" is not a plain file name`);
  }
  return given;
}
