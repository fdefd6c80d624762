// The invariants live in scripts/lib so `npm run plan:summary` and the tests share one implementation.
export * from "../../scripts/lib/invariants";
