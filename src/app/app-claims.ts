/**
 * The routes an app module claims for itself, next to the code that implements them:
 *
 *   export const claims = ['GET /packages/:name', 'POST /rpc'];
 *   export default app;
 *
 * Read once at start-up (--watch does not change them). A CommonJS module may put `claims` on
 * module.exports. Patterns are checked by the caller (route/claim-pattern.ts).
 */
export function claimsOf(mod: Record<string, unknown>, file: string): string[] {
  let value = mod.claims;
  if (value === undefined && mod.default && (typeof mod.default === 'object' || typeof mod.default === 'function')) value = (mod.default as Record<string, unknown>).claims;
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new TypeError(`${file}: export const claims must be an array of strings (patterns like "GET /packages/:name")`);
  }
  return value as string[];
}
