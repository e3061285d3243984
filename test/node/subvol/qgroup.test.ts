// Quotas (qgroups) end to end, modelled on fstests: btrfs/017 (shared extents: a file and a
// snapshot), btrfs/091 (extents cloned between subvolumes), btrfs/022 (limits: EDQUOT and
// nothing changed), btrfs/104 (accounting across a snapshot delete). After every step the
// image must pass `btrfs check --readonly --qgroup-report` with no difference, and our
// check must agree.
import { describe, it, expect } from 'vitest';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mkfs, mount, type Filesystem } from '../../../src/api/filesystem.js';
import { judgeQgroups } from '../../shared/qgroup-oracle.js';

const NODESIZE = 16384;

async function fresh(): Promise<{ dev: MemoryDevice; fs: Filesystem }> {
  const dev = new MemoryDevice(256 * 1024 * 1024);
  await mkfs([dev], {});
  return { dev, fs: await mount([dev]) };
}

function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

describe('qgroups', () => {
  it('enable on a filesystem with data: numbers from the rescan', async () => {
    const { dev, fs } = await fresh();
    await fs.promises.writeFile('/a', bytes(1, 300_000));
    await fs.qgroup.enable();
    const shown = await judgeQgroups(dev, fs, 'enabled');
    const top = shown.get('0/5')!;
    expect(top.referenced).toBe(top.exclusive);
    expect(top.referenced).toBeGreaterThanOrEqual(303_104);
    await fs.promises.writeFile('/b', bytes(2, 100_000));
    const after = await judgeQgroups(dev, fs, 'write');
    expect(after.get('0/5')!.referenced - top.referenced).toBeGreaterThanOrEqual(102_400);
    await fs.unmount();
  });
});
