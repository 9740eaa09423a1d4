// npm may run on an older Node than the project's (the `node` devDependency pins 24), and npm leaves
// out an optional dependency whose `engines` that older Node fails: Hardhat's EDR (the in-process
// EVM of the ERC-8004 tests) then has no native binding for this platform. This fetches the one
// binding the lockfile names for this platform, if npm left it out. Plain JavaScript: it must run
// on whatever Node npm uses.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const libc = process.report?.getReport?.().header?.glibcVersionRuntime ? 'gnu' : 'musl';
const name = `@nomicfoundation/edr-${process.platform}-${process.arch}${process.platform === 'linux' ? `-${libc}` : ''}`;
const entry = lock.packages?.[`node_modules/${name}`];
const target = join('node_modules', name);
if (entry && existsSync('node_modules/@nomicfoundation/edr') && !existsSync(join(target, 'package.json'))) {
  const scratch = mkdtempSync(join(tmpdir(), 'sigid-edr-'));
  try {
    const file = execFileSync('npm', ['pack', `${name}@${entry.version}`, '--silent', '--pack-destination', scratch], {
      encoding: 'utf8',
    }).trim();
    mkdirSync(target, { recursive: true });
    execFileSync('tar', ['-xzf', join(scratch, file.split('\n').pop()), '-C', target, '--strip-components=1']);
    console.log(`postinstall: added ${name}@${entry.version} (npm left it out for its engines)`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
