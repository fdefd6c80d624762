/**
 * cdktf 0.21 (the last release) calls `util.isArray` when it synthesizes outputs, which
 * Node 22+ reports as deprecated (DEP0044) on every synth. It is the same function as
 * `Array.isArray`; pointing the deprecated name at it keeps the behaviour and drops the
 * warning. Imported for its effect by every module that synthesizes (app.ts, digest-stack.ts).
 */
import util from "node:util";

(util as { isArray?: (v: unknown) => v is unknown[] }).isArray = Array.isArray;
