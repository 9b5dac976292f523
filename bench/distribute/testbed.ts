// A testbed of hosts in network namespaces: one namespace per host, each joined by a veth pair
// to a Linux bridge living in its own namespace, every link capped with tc tbf in both
// directions (the host's end caps its upload, the bridge's end its download) unless no rate
// is given. A host's link can be cut and healed (partition tests). Addresses come
// from 198.18.0.0/15, the range set aside for network benchmarks. Every namespace carries a
// unique run id, and `destroy` deletes exactly those (their veths go with them).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface Host {
  name: string;
  ns: string;
  ip: string;
  /** The host's end of its veth pair, inside `ns`. */
  link: string;
}

export interface TestbedOptions {
  hosts: number;
  /** tc rate, e.g. "100mbit"; without it the links are not capped. */
  rate?: string;
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function inNs(ns: string, cmd: string, ...args: string[]): void {
  execFileSync("ip", ["netns", "exec", ns, cmd, ...args], { stdio: ["ignore", "ignore", "pipe"] });
}

export class Testbed {
  readonly id = randomBytes(2).toString("hex");
  readonly bridgeNs = `ydb-${this.id}`;
  readonly hosts: Host[] = [];
  private readonly created: string[] = [];

  constructor(private readonly opts: TestbedOptions) {}

  /** Builds the namespaces; on any failure, removes what it made and rethrows. */
  create(): void {
    try {
      ip("netns", "add", this.bridgeNs);
      this.created.push(this.bridgeNs);
      inNs(this.bridgeNs, "ip", "link", "set", "lo", "up");
      inNs(this.bridgeNs, "ip", "link", "add", "br0", "type", "bridge");
      inNs(this.bridgeNs, "ip", "link", "set", "br0", "up");
      for (let i = 0; i < this.opts.hosts; i++) {
        const ns = `ydh-${this.id}-${i}`;
        const hostEnd = `y${this.id}h${i}`;
        const bridgeEnd = `y${this.id}b${i}`;
        const addr = `198.18.${Math.floor((i + 1) / 250)}.${((i + 1) % 250) + 1}`;
        ip("netns", "add", ns);
        this.created.push(ns);
        inNs(ns, "ip", "link", "set", "lo", "up");
        // Created inside the host's namespace, so that no link ever exists in the root one.
        inNs(ns, "ip", "link", "add", hostEnd, "type", "veth", "peer", "name", bridgeEnd);
        inNs(ns, "ip", "link", "set", bridgeEnd, "netns", this.bridgeNs);
        inNs(ns, "ip", "addr", "add", `${addr}/15`, "dev", hostEnd);
        inNs(ns, "ip", "link", "set", hostEnd, "up");
        inNs(this.bridgeNs, "ip", "link", "set", bridgeEnd, "master", "br0");
        inNs(this.bridgeNs, "ip", "link", "set", bridgeEnd, "up");
        if (this.opts.rate) {
          const tbf = ["root", "tbf", "rate", this.opts.rate, "burst", "256kb", "latency", "50ms"];
          inNs(ns, "tc", "qdisc", "add", "dev", hostEnd, ...tbf);
          inNs(this.bridgeNs, "tc", "qdisc", "add", "dev", bridgeEnd, ...tbf);
        }
        this.hosts.push({ name: i === 0 ? "server" : `agent-${i}`, ns, ip: addr, link: hostEnd });
      }
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  /**
   * Cuts (`up` false) or heals a host's link: set down, its end drops every packet silently
   * (no reset reaches either side), as a pulled cable; its own address still answers inside.
   */
  setLink(host: Host, up: boolean): void {
    inNs(host.ns, "ip", "link", "set", host.link, up ? "up" : "down");
  }

  /** Deletes every namespace this testbed made; safe to call more than once. */
  destroy(): void {
    while (this.created.length > 0) {
      const ns = this.created.pop()!;
      try {
        ip("netns", "del", ns);
      } catch {
        // already gone
      }
    }
  }
}
