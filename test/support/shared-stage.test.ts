/**
 * The shared local stage's turns (test/support/shared-stage.ts): the readers-writer lock,
 * and leases over the coordinator's HTTP, where a lease ends when its holder goes away.
 * Nothing here applies the stage.
 */
import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { SHARED_STAGE_ENV, StageLock, leaseStage, startSharedStageCoordinator, type LeaseMode, type SharedStageCoordinator } from "./shared-stage";

describe("the stage lock", () => {
  /** Requests in order; returns the log of grants. */
  function scenario() {
    const lock = new StageLock();
    const granted: string[] = [];
    const ask = (name: string, mode: LeaseMode) => lock.request(mode, () => granted.push(name));
    return { lock, granted, ask };
  }

  test("when only shared leases are asked for, they are all granted at once", () => {
    const { lock, granted, ask } = scenario();
    ask("a", "shared");
    ask("b", "shared");
    expect(granted).toEqual(["a", "b"]);
    expect(lock.holders).toEqual({ shared: 2, exclusive: false, waiting: 0 });
  });

  test("when an exclusive lease is held, shared ones wait until it is released, then go together", () => {
    const { lock, granted, ask } = scenario();
    ask("writer", "exclusive");
    ask("r1", "shared");
    ask("r2", "shared");
    expect(granted).toEqual(["writer"]);
    lock.release("exclusive");
    expect(granted).toEqual(["writer", "r1", "r2"]);
  });

  test("when shared leases are held, an exclusive request waits for all of them, and a later shared request waits behind it (request order)", () => {
    const { lock, granted, ask } = scenario();
    ask("r1", "shared");
    ask("r2", "shared");
    ask("writer", "exclusive");
    ask("r3", "shared");
    expect(granted).toEqual(["r1", "r2"]);
    lock.release("shared");
    expect(granted).toEqual(["r1", "r2"]);
    lock.release("shared");
    expect(granted).toEqual(["r1", "r2", "writer"]);
    lock.release("exclusive");
    expect(granted).toEqual(["r1", "r2", "writer", "r3"]);
  });

  test("when a waiting request is cancelled, the requests behind it move up", () => {
    const { lock, granted, ask } = scenario();
    ask("r1", "shared");
    const cancel = ask("writer", "exclusive");
    ask("r2", "shared");
    expect(granted).toEqual(["r1"]);
    cancel();
    expect(granted).toEqual(["r1", "r2"]);
    expect(lock.holders).toEqual({ shared: 2, exclusive: false, waiting: 0 });
  });
});

describe("leases through the coordinator", () => {
  let coordinator: SharedStageCoordinator;
  const before = process.env[SHARED_STAGE_ENV];
  const dir = path.join(__dirname, "..", "..", ".tmp", `shared-stage-test-${randomUUID()}`);

  beforeAll(async () => {
    coordinator = await startSharedStageCoordinator(dir);
    process.env[SHARED_STAGE_ENV] = coordinator.url;
  });
  afterAll(async () => {
    process.env[SHARED_STAGE_ENV] = before;
    await coordinator.close();
  });

  /** The coordinator's lock, as it reports it. */
  async function holders(): Promise<StageLock["holders"]> {
    const res = await fetch(`${coordinator.url}/status`);
    return (await res.json()) as StageLock["holders"];
  }

  /** Waits (bounded) until the coordinator has `n` requests queued; fails the test otherwise. */
  async function untilWaiting(n: number): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if ((await holders()).waiting === n) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`the coordinator never had ${n} request(s) waiting: ${JSON.stringify(await holders())}`);
  }

  const settled = (p: Promise<unknown>) => {
    let done = false;
    void p.then(() => (done = true));
    return () => done;
  };

  test("when an exclusive lease is held, a second one is granted only after the first is released", async () => {
    const releaseFirst = await leaseStage("exclusive");
    const second = leaseStage("exclusive");
    const granted = settled(second);
    await untilWaiting(1);
    expect(granted()).toBe(false);
    expect(await holders()).toEqual({ shared: 0, exclusive: true, waiting: 1 });
    releaseFirst();
    const releaseSecond = await second;
    releaseSecond();
  });

  test("when the holder's connection goes away without a release, the lease ends and the next request is granted", async () => {
    // A holder that dies: a raw request whose socket is destroyed once granted.
    const http = await import("node:http");
    const held = await new Promise<import("node:http").ClientRequest>((resolve, reject) => {
      const req = http.get(`${coordinator.url}/lease?mode=exclusive`, (res) => {
        res.resume();
        resolve(req);
      });
      req.once("error", reject);
    });
    const next = leaseStage("shared");
    await untilWaiting(1);
    held.socket?.destroy();
    const release = await next;
    expect(await holders()).toEqual({ shared: 1, exclusive: false, waiting: 0 });
    release();
  });

  test("when asked for an unknown lease mode, the coordinator refuses it", async () => {
    const res = await fetch(`${coordinator.url}/lease?mode=everything`);
    expect(res.status).toBe(404);
    await res.arrayBuffer();
    expect(fs.existsSync(path.join(dir, "state.json"))).toBe(false);
  });
});
