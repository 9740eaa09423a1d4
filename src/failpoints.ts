/**
 * Crash points for the kill-between-steps tests: `SIGID_FAILPOINTS=name[,name…]` makes the process
 * kill itself with SIGKILL the first time it reaches a named point, exactly as a power cut would
 * there. Unset (always, outside those tests), a failpoint is one Set lookup and does nothing.
 */
const armed = new Set(
  (process.env.SIGID_FAILPOINTS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean),
);

/** Dies here, at once and without cleanup, when `name` is armed. */
export function failpoint(name: string): void {
  if (armed.size > 0 && armed.has(name)) process.kill(process.pid, 'SIGKILL');
}
