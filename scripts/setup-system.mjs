// Makes sure the system packages the test suite needs are present:
// Debian's chromium (the browser project) and btrfs-progs (the oracle).
// When missing and we are root, installs them with apt-get; otherwise says
// exactly what to install and fails.
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';

const needs = [
  { pkg: 'chromium', file: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' },
  { pkg: 'btrfs-progs', file: '/usr/bin/btrfs' },
  { pkg: 'btrfs-progs', file: '/usr/sbin/mkfs.btrfs', alt: '/usr/bin/mkfs.btrfs' },
  { pkg: 'zstd', file: '/usr/bin/zstd' },
];
const missing = [...new Set(needs.filter((n) => !existsSync(n.file) && !(n.alt && existsSync(n.alt))).map((n) => n.pkg))];
if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot) {
  console.error(`butterfs tests need these Debian packages: ${missing.join(' ')}\n` +
    `Install them with:  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`);
  process.exit(1);
}
console.log(`setup: installing ${missing.join(' ')} with apt-get`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execSync('apt-get update -qq', { stdio: 'inherit', env });
execSync(`apt-get install -y -qq --no-install-recommends ${missing.join(' ')}`, { stdio: 'inherit', env });
