import { startMoto } from "./moto";

describe("startMoto", () => {
  test("when started, it answers HTTP on loopback and stops by PID", async () => {
    const moto = await startMoto();
    expect(moto.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${moto.url}/moto-api/data.json`);
    expect(res.status).toBe(200);
    await moto.stop();
    await expect(fetch(`${moto.url}/moto-api/data.json`)).rejects.toThrow();
  });
});
