// fs.filesystem: df / usage / label / block group map, against what btrfs-progs reads from the image.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import { readSuper } from '../../../src/fs/super.js';
import { btrfsCheck, btrfsProg, saveImage, tempDir } from '../../shared/btrfs-progs.js';

const MiB = 1024 * 1024;

describe('fs.filesystem', () => {
  it('reports df and usage that add up, and a block group map', async () => {
    const dev = new MemoryDevice(256 * MiB);
    await mkfs([dev]);
    const fs = await mount([dev]);
    await fs.promises.writeFile('/big', new Uint8Array(3 * MiB).fill(7));
    await fs.sync();
    const df = await fs.filesystem.df();
    expect(df.map((s) => `${s.type}/${s.profile}`)).toEqual(['data/single', 'system/DUP', 'metadata/DUP']);
    const data = df.find((s) => s.type === 'data')!;
    expect(data.usedBytes).toBe(3 * MiB);
    const usage = await fs.filesystem.usage();
    expect(usage.deviceSizeBytes).toBe(256 * MiB);
    expect(usage.usedBytes).toBe(df.reduce((a, s) => a + s.usedBytes, 0));
    // DUP chunks take twice their logical size on the device.
    const onDevice = df.reduce((a, s) => a + s.totalBytes * (s.profile === 'DUP' ? 2 : 1), 0);
    expect(usage.deviceAllocatedBytes).toBe(onDevice);
    expect(usage.freeEstimatedBytes).toBe(data.totalBytes - data.usedBytes + usage.deviceUnallocatedBytes);
    const bgs = await fs.filesystem.blockGroups();
    expect(bgs).toHaveLength(3);
    for (const bg of bgs) expect(bg.stripes).toHaveLength(bg.profile === 'DUP' ? 2 : 1);
    await fs.unmount();
  });

  it('sets the label with a commit btrfs-progs reads, and refuses bad labels', async () => {
    const dev = new MemoryDevice(128 * MiB);
    await mkfs([dev], { label: 'old' });
    const fs = await mount([dev]);
    expect(await fs.filesystem.getLabel()).toBe('old');
    const gen = fs.generation;
    await fs.filesystem.setLabel('new label');
    expect(fs.generation).toBe(gen + 1);
    expect(await fs.filesystem.getLabel()).toBe('new label');
    await expect(fs.filesystem.setLabel('x'.repeat(256))).rejects.toMatchObject({ code: 'EINVAL' });
    await fs.unmount();
    expect((await readSuper(dev)).sb.generation).toBe(gen + 1);
    const again = await mount([dev]);
    expect(await again.filesystem.getLabel()).toBe('new label');
    await again.unmount();
    const { dir, cleanup } = await tempDir();
    try {
      const img = join(dir, 'fs.img');
      await saveImage(dev, img);
      expect((await btrfsProg(['filesystem', 'label', img])).output.trim()).toBe('new label');
      expect((await btrfsCheck(img)).ok).toBe(true);
    } finally {
      await cleanup();
    }
  });
});
