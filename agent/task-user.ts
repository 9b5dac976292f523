// Who a process task runs as. An agent running as root runs tasks as the framework's user
// (RunTask.user) or, when none is named, as its default task user (an unprivileged system
// user, `yard-task` unless told otherwise, created when missing); never as root unless the
// operator allows it. An agent that is not root cannot switch users: every task runs as the
// agent's own user, and a task asking for someone else fails. Docs: docs/security.md
// "Tasks run unprivileged".
import { execFile } from "node:child_process";
import os from "node:os";
import { promisify } from "node:util";
import { errorMessage, FailedPreconditionError, InvalidArgumentError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";

const run = promisify(execFile);

export const DEFAULT_TASK_USER = "yard-task";

/** A user name as useradd accepts it (and no option lookalikes). */
const USER_NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}\$?$/;

/** The identity a task's processes get. */
export interface TaskUser {
  name: string;
  uid: number;
  gid: number;
}

/** A task cannot run as the user asked for; the message names the user and why. */
export class TaskUserRefusedError extends FailedPreconditionError {
  constructor(
    readonly user: string,
    why: string,
  ) {
    super(`task user "${user}": ${why}`);
  }
}

export interface TaskUsersInit {
  /** The user tasks run as when their framework names none (default `yard-task`). */
  defaultUser?: string;
  /** Whether a task may run as root (uid 0); off by default. */
  allowRoot?: boolean;
  logger: Logger;
}

/** Looks up users with `id` (so NSS sources count, not only /etc/passwd). */
async function lookUp(name: string): Promise<TaskUser | undefined> {
  try {
    const [uid, gid] = await Promise.all([run("id", ["-u", "--", name]), run("id", ["-g", "--", name])]);
    return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined;
  }
}

export class TaskUsers {
  private readonly defaultUser: string;
  private readonly log: Logger;
  /** Resolved users, kept for the agent's life: a launch then costs no lookup. */
  private readonly known = new Map<string, TaskUser>();
  private readonly switching = process.getuid?.() === 0;

  constructor(private readonly init: TaskUsersInit) {
    this.defaultUser = init.defaultUser || DEFAULT_TASK_USER;
    this.log = init.logger;
    if (!USER_NAME.test(this.defaultUser)) {
      throw new InvalidArgumentError("taskUser", `"${this.defaultUser}" is not a valid user name`);
    }
  }

  /** Whether tasks run as other users than the agent's (the agent is root). */
  get switchesUsers(): boolean {
    return this.switching;
  }

  /**
   * Makes sure the default task user exists: the built-in `yard-task` is created when missing,
   * a user the operator named must exist. Throws when tasks could not run.
   */
  async start(): Promise<void> {
    if (!this.switching) {
      this.log.warn("the agent does not run as root: every task runs as the agent's own user", {
        user: os.userInfo().username,
      });
      return;
    }
    let user = await lookUp(this.defaultUser);
    if (!user && this.defaultUser === DEFAULT_TASK_USER) user = await this.create(this.defaultUser);
    if (!user) {
      throw new InvalidArgumentError("taskUser", `user "${this.defaultUser}" does not exist on this host`);
    }
    this.checkRoot(user);
    this.known.set(user.name, user);
    this.log.info("tasks run as an unprivileged user by default", { user: user.name, uid: user.uid });
  }

  /**
   * The user a task runs as, from the name its framework gave (empty: the default);
   * undefined when the agent cannot switch users and the task runs as the agent itself.
   */
  async resolve(requested: string): Promise<TaskUser | undefined> {
    if (!this.switching) {
      const own = os.userInfo().username;
      if (requested && requested !== own) {
        throw new TaskUserRefusedError(
          requested,
          `the agent runs as "${own}", not as root, and cannot run tasks as another user`,
        );
      }
      return undefined;
    }
    const name = requested || this.defaultUser;
    const cached = this.known.get(name);
    if (cached) return cached;
    if (!USER_NAME.test(name)) throw new TaskUserRefusedError(name, "is not a valid user name");
    const user = await lookUp(name);
    if (!user) throw new TaskUserRefusedError(name, "no such user on this agent's host");
    this.checkRoot(user);
    this.known.set(name, user);
    return user;
  }

  private checkRoot(user: TaskUser): void {
    if (user.uid === 0 && !this.init.allowRoot) {
      throw new TaskUserRefusedError(
        user.name,
        "has uid 0, and this agent runs no task as root (it would need --allow-root-tasks)",
      );
    }
  }

  private async create(name: string): Promise<TaskUser> {
    // Several agents starting on one host race to create the user: useradd then fails on the
    // lock of /etc/passwd while another creates it. Look again and retry a few times before
    // calling it an error.
    for (let attempt = 1; ; attempt++) {
      try {
        await run("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--", name]);
        this.log.info("created the task user", { user: name });
        break;
      } catch (err) {
        const other = await lookUp(name);
        if (other) return other;
        if (attempt >= 5) {
          throw new FailedPreconditionError(
            `the task user "${name}" does not exist and cannot be created (useradd: ${errorMessage(err)}); ` +
              "create it, or name another with --task-user",
          );
        }
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
    const user = await lookUp(name);
    if (!user) throw new FailedPreconditionError(`the task user "${name}" was created but cannot be found`);
    return user;
  }
}
