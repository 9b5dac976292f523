// The web UI in a real browser: Debian's chromium driven by playwright-core, against a real
// master (HTTPS with the test cluster CA), an agent and the service framework. The browser
// logs in through the URL `yardctl ui` prints, sees the agent, watches a deployment's steps
// advance, reads an instance's log and sees why an app too big for any agent waits. Every wait
// is for a condition on the page. With YARD_UI_SCREENSHOTS=DIR it also saves a screenshot of
// each page there (docs/ui.md's pictures).
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { ServiceFrameworkProcess } from "../../chaos/service-process.js";
import { TestCluster } from "../../cluster/harness.js";

const CHROMIUM = process.env.YARD_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = process.env.YARD_UI_SCREENSHOTS;
const WAIT_MS = 60_000;

/**
 * Off CI a machine without chromium skips these tests, saying why; on CI (.ci/run installs
 * it) a missing browser fails them instead of passing unseen.
 */
function skipWithoutChromium(): string | false {
  if (existsSync(CHROMIUM) || process.env.CI === "true") return false;
  return `chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)`;
}

const WEB = [
  "name: web",
  "command: echo hello from web; sleep 600",
  "instances: 2",
  "resources: { cpus: 0.1, mem: 32 }",
  "rollout: { steps: [1, 2], min_healthy_time: 4 }",
  "",
].join("\n");

const BIG = ["name: big", "command: sleep 600", "instances: 1", "resources: { cpus: 100, mem: 32 }", ""].join(
  "\n",
);

const cluster = new TestCluster();
const service = new ServiceFrameworkProcess(cluster);
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let loginUrl = "";

async function shot(name: string): Promise<void> {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function deploy(name: string, yaml: string): Promise<void> {
  const file = join(cluster.root, `${name}.yaml`);
  writeFileSync(file, yaml);
  const r = await cluster.yardctl(["deploy", "-f", file]);
  assert.equal(r.code, 0, `yardctl deploy ${name}: ${r.stderr}${r.stdout}`);
}

describe("web UI in chromium", { skip: skipWithoutChromium(), timeout: 240_000 }, () => {
  before(async () => {
    await cluster.startMaster();
    await cluster.startAgent({ cpus: 4, mem: 4096 });
    await cluster.waitForAgents(1);
    await service.start();
    const r = await cluster.yardctl(["ui"]);
    assert.equal(r.code, 0, r.stderr);
    loginUrl = r.stdout.trim();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    // The master's HTTPS certificate is the test cluster CA's, which the browser does not know.
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 860 } });
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await service.stop();
    await cluster.stop();
  });

  test("yardctl ui prints an HTTPS login URL with a code, never the token", () => {
    assert.match(loginUrl, /^https:\/\/127\.0\.0\.1:\d+\/ui\/login\?code=[\w-]{20,}$/);
    assert.ok(!loginUrl.includes(cluster.token));
  });

  test("the JSON endpoints refuse a browser that has not logged in", async () => {
    const res = await context.request.get(new URL("/ui/api/overview", loginUrl).href);
    assert.equal(res.status(), 401);
    assert.match((await res.json()).error.message, /yardctl ui/);
  });

  test("the login URL logs in once, with an HttpOnly SameSite=Strict cookie, and shows the agent", async () => {
    await page.goto(loginUrl);
    assert.equal(new URL(page.url()).pathname, "/ui/");
    const cookie = (await context.cookies()).find((c) => c.name === "yard_ui");
    assert.ok(cookie, "a session cookie");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.equal(cookie.secure, true);
    await page.getByText("host-0").waitFor({ timeout: WAIT_MS });
    await page.locator("#who").getByText("cluster-token").waitFor({ timeout: WAIT_MS });
    // The code was used: a second browser cannot log in with it.
    const other = await browser!.newContext({ ignoreHTTPSErrors: true });
    const again = await other.request.get(loginUrl, { maxRedirects: 0 });
    assert.equal(again.status(), 401);
    await other.close();
  });

  test("frameworks show the service framework's dominant share", async () => {
    await page.goto(new URL("/ui/#/frameworks", loginUrl).href);
    await page.locator("td", { hasText: /^service$/ }).waitFor({ timeout: WAIT_MS });
    await shot("frameworks");
  });

  test("a deployment's steps advance on the app's page", async () => {
    await deploy("web", WEB);
    await page.goto(new URL("/ui/#/apps/web", loginUrl).href);
    // Step 1 (one instance) is current, then every step is done and the rollout succeeded.
    await page.locator('.step.current[data-step="1"]').waitFor({ timeout: WAIT_MS });
    await shot("app-rollout");
    await page.locator("#rollout-state", { hasText: "SUCCEEDED" }).waitFor({ timeout: WAIT_MS });
    assert.equal(await page.locator(".step.done").count(), 2);
    await page.goto(new URL("/ui/#/apps", loginUrl).href);
    await page.locator("a", { hasText: /^web$/ }).waitFor({ timeout: WAIT_MS });
    await shot("apps");
  });

  test("an instance's page reads its log through the master", async () => {
    await page.goto(new URL("/ui/#/tasks", loginUrl).href);
    await page.locator("td a code").first().waitFor({ timeout: WAIT_MS });
    await shot("tasks");
    await page.locator("td a code").first().click();
    await page.getByRole("button", { name: "stdout" }).click();
    await page.locator("#log", { hasText: "hello from web" }).waitFor({ timeout: WAIT_MS });
    await shot("task");
  });

  test("an app too big for any agent says why it waits", async () => {
    await deploy("big", BIG);
    await page.goto(new URL("/ui/#/apps/big", loginUrl).href);
    await page.locator('#why [data-reason="insufficient_cpus"]').waitFor({ timeout: WAIT_MS });
    await shot("app-pending");
    await page.goto(new URL("/ui/#/tasks", loginUrl).href);
    await page.locator('[data-reason="insufficient_cpus"]').first().waitFor({ timeout: WAIT_MS });
  });

  test("the event stream is live", async () => {
    await page.goto(new URL("/ui/#/events", loginUrl).href);
    await page.locator("#event-state", { hasText: "live" }).waitFor({ timeout: WAIT_MS });
    await page.locator('#events tr[data-type="AGENT_ADDED"]').first().waitFor({ timeout: WAIT_MS });
    // A new event arrives while the page is open: the scale-down's kill of an instance.
    const before = await page.locator("#events tr").count();
    const r = await cluster.yardctl(["scale", "web", "1"]);
    assert.equal(r.code, 0, r.stderr);
    await page.locator("#events tr").nth(before).waitFor({ timeout: WAIT_MS });
    await shot("events");
  });

  test("releases list, and logging out ends the session", async () => {
    // The overview again, now that instances hold resources (the picture of docs/ui.md).
    await page.goto(new URL("/ui/#/overview", loginUrl).href);
    await page.getByText("host-0").waitFor({ timeout: WAIT_MS });
    await shot("overview");
    await page.goto(new URL("/ui/#/releases", loginUrl).href);
    await page.getByRole("heading", { name: "Releases" }).waitFor({ timeout: WAIT_MS });
    await shot("releases");
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("heading", { name: "Not logged in" }).waitFor({ timeout: WAIT_MS });
    const res = await context.request.get(new URL("/ui/api/overview", loginUrl).href);
    assert.equal(res.status(), 401);
  });
});
