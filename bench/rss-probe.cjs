// Preloaded into every node process of a benchmark run (NODE_OPTIONS=--require): prints the
// process's peak resident set size on exit, so the benchmark can read children's memory.
process.on("exit", () => {
  process.stderr.write(`\nBENCH_MAX_RSS_KB=${process.resourceUsage().maxRSS}\n`);
});
