/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.(t|j)sx?$": ["@swc/jest", { jsc: { target: "es2022" } }] },
  // sanitize-html 2.18 parses with htmlparser2 12, which (with its dom* helpers and entities
  // 7) ships only ES modules. Node 24 can require() them, but jest's module runtime only with
  // an experimental vm flag; swc turns these few packages into CommonJS instead.
  transformIgnorePatterns: ["/node_modules/(?!(htmlparser2|domhandler|domutils|dom-serializer|domelementtype|entities)/)"],
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/support/global-teardown.ts",
  maxWorkers: 2,
  testTimeout: 60_000,
  // cdktf and the SDK load many modules; recycle a worker that grows past this.
  workerIdleMemoryLimit: "1GB",
};
