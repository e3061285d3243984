import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { openFs } from '../../../src/fs/open.js';
import { btrfsCheck, btrfsProg, saveImage, tempDir } from '../../shared/btrfs-progs.js';

const MiB = 1024 * 1024;

describe('mkfs', () => {
  for (const csum of ['crc32c', 'xxhash', 'sha256', 'blake2'] as const) {
    for (const nodesize of [4096, 16384, 65536]) {
      it(`makes an image btrfs check accepts (${csum}, nodesize ${nodesize})`, async () => {
        const dev = new MemoryDevice(256 * MiB);
        await mkfs([dev], { csum, nodesize, label: `t-${csum}` });
        const { dir, cleanup } = await tempDir();
        try {
          const img = join(dir, 'fs.img');
          await saveImage(dev, img);
          const r = await btrfsCheck(img);
          expect(r.ok, r.output).toBe(true);
          const fs = await openFs([dev]);
          expect(fs.sb.generation).toBe(1);
          expect(fs.nodesize).toBe(nodesize);
        } finally {
          await cleanup();
        }
      });
    }
  }

  it('refuses bad options with EINVAL', async () => {
    const dev = new MemoryDevice(128 * MiB);
    await expect(mkfs([dev], { nodesize: 12288 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mkfs([dev], { nodesize: 2048 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mkfs([dev], { sectorsize: 8192 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mkfs([dev], { csum: 'md5' as never })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mkfs([dev], { data: 'raid1' })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mkfs([dev], { features: ['bogus'] })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mkfs([dev], { label: 'x'.repeat(256) })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mkfs([new MemoryDevice(16 * MiB)])).rejects.toMatchObject({ code: 'ENOSPC' });
  });

  it('writes the label and csum type btrfs-progs reads', async () => {
    const dev = new MemoryDevice(128 * MiB);
    await mkfs([dev], { csum: 'xxhash', label: 'hello' });
    const { dir, cleanup } = await tempDir();
    try {
      const img = join(dir, 'fs.img');
      await saveImage(dev, img);
      const r = await btrfsProg(['inspect-internal', 'dump-super', img]);
      expect(r.output).toMatch(/label\s+hello/);
      expect(r.output).toMatch(/csum_type\s+1 \(xxhash64\)/);
    } finally {
      await cleanup();
    }
  });
});
