// The moto harness lives in scripts/lib so the local run and the tests share one copy.
export * from "../../scripts/lib/moto";
