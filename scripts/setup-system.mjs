// Makes sure the system packages the test suite needs are present:
// Debian's chromium (the browser project), btrfs-progs (the oracle), zstd (the reference
// zstd decoder) and python3-lzo (liblzo2, an independent LZO1X implementation).
// When missing and we are root, installs them with apt-get; otherwise says exactly what to
// install and fails.
import { existsSync } from 'node:fs';
import { execSync, spawnSync } from 'node:child_process';

const has = (file) => () => existsSync(file);
const needs = [
  { pkg: 'chromium', present: has(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium') },
  { pkg: 'btrfs-progs', present: () => existsSync('/usr/bin/btrfs') && (existsSync('/usr/sbin/mkfs.btrfs') || existsSync('/sbin/mkfs.btrfs')) },
  { pkg: 'zstd', present: has('/usr/bin/zstd') },
  { pkg: 'python3-lzo', present: () => spawnSync('/usr/bin/python3', ['-c', 'import lzo']).status === 0 },
];
const missing = [...new Set(needs.filter((n) => !n.present()).map((n) => n.pkg))];
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
