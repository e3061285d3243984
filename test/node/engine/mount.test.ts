// Mounting damaged, hostile and truncated images: a clear FsError, never a hang or a crash;
// the newest valid superblock copy wins; rescue=usebackuproot falls back to older roots.
import { describe, expect, it } from 'vitest';
import { MemoryDevice } from '../../../src/device/memory.js';
import { mkfs } from '../../../src/fs/mkfs.js';
import { openFs } from '../../../src/fs/open.js';
import { encodeSuper, readSuper } from '../../../src/fs/super.js';
import { startTransaction, commitTransaction } from '../../../src/fs/transaction.js';
import { superblockOffset } from '../../../src/format/constants.js';
import { mount } from '../../../src/api/filesystem.js';
import { createFile } from '../../shared/simple-files.js';

const MiB = 1024 * 1024;

async function image(): Promise<MemoryDevice> {
  const dev = new MemoryDevice(128 * MiB);
  await mkfs([dev], { nodesize: 4096 });
  return dev;
}

describe('mount', () => {
  it('uses the mirror when the primary superblock is bad, and refuses when all are bad', async () => {
    const dev = await image();
    const primary = (await dev.read(superblockOffset(0), 4096)).slice();
    primary[0x100] ^= 1;
    await dev.write(superblockOffset(0), primary);
    const fs = await openFs([dev]);
    expect(fs.sb.generation).toBe(1);
    const mirror = (await dev.read(superblockOffset(1), 4096)).slice();
    mirror[0x40] = 0; // magic
    await dev.write(superblockOffset(1), mirror);
    await expect(openFs([dev])).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/no valid btrfs superblock.*checksum mismatch.*bad magic/) });
  });

  it('picks the newest valid copy', async () => {
    const dev = await image();
    const fs = await openFs([dev]);
    startTransaction(fs);
    await createFile(fs, fs.fsTree, 'a', 257, 2);
    await commitTransaction(fs);
    // Put generation 1's superblock back in the primary slot only: the mirror is newer.
    const { sb } = await readSuper(dev);
    expect(sb.generation).toBe(2);
    const old = { ...sb, generation: 1 };
    await dev.write(superblockOffset(0), encodeSuper(old, 0));
    expect((await readSuper(dev)).sb.generation).toBe(2);
  });

  it('refuses unknown incompat features, absurd geometry and too small devices', async () => {
    const dev = await image();
    const { sb } = await readSuper(dev);
    for (const [change, code] of [
      [{ incompatFlags: sb.incompatFlags | (1 << 20) }, 'EINVAL'],
      [{ nodesize: 12345 }, 'EUCLEAN'],
      [{ sectorsize: 512 }, 'EUCLEAN'],
      [{ rootLevel: 9 }, 'EUCLEAN'],
      [{ sysChunkArraySize: 4000 }, 'EUCLEAN'],
      [{ root: 4097 }, 'EUCLEAN'],
    ] as const) {
      const d = dev.fork();
      for (const m of [0, 1]) await d.write(superblockOffset(m), encodeSuper({ ...sb, ...change }, m));
      await expect(openFs([d]), JSON.stringify(change)).rejects.toMatchObject({ code });
    }
    await expect(openFs([new MemoryDevice(32 * 1024)])).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(openFs([new MemoryDevice(4 * MiB)])).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('a truncated image is a clear error', async () => {
    const dev = await image();
    // Copy the first 16 MiB only: the superblock survives, chunks beyond the end do not.
    const small = new MemoryDevice(16 * MiB);
    await small.write(0, await dev.read(0, 16 * MiB));
    await expect(openFs([small])).rejects.toMatchObject({ code: expect.stringMatching(/EIO|EINVAL|EUCLEAN/) });
  });

  it('rescue=usebackuproot mounts an older root when the current one is destroyed', async () => {
    const dev = await image();
    const fs = await openFs([dev]);
    for (let g = 0; g < 3; g++) {
      startTransaction(fs);
      await createFile(fs, fs.fsTree, `f${g}`, 257 + g, 2 + g);
      await commitTransaction(fs);
    }
    const rootBytenr = fs.sb.root;
    for (const c of fs.volumes.mapRange(rootBytenr, fs.nodesize)[0].copies) await dev.write(c.physical, new Uint8Array(fs.nodesize));
    await expect(openFs([dev])).rejects.toMatchObject({ code: 'EIO' });
    const rescued = await mount([dev], 'ro,rescue=usebackuproot');
    expect(rescued.info.sb.generation).toBeLessThan(4);
    expect(rescued.info.sb.generation).toBeGreaterThan(1);
    await rescued.unmount();
  });

  it('read-only mounts refuse writes with EROFS', async () => {
    const dev = await image();
    const fs = await mount([dev], 'ro');
    await expect(fs.transaction(async () => undefined)).rejects.toMatchObject({ code: 'EROFS' });
    await fs.unmount();
  });

  it('unknown and malformed mount options are EINVAL naming the option', async () => {
    const dev = await image();
    await expect(mount([dev], 'bogus')).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('bogus') });
    await expect(mount([dev], 'commit=abc')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mount([dev], 'rescue=nologreplay')).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('commit= makes changes durable without an explicit sync', async () => {
    const dev = await image();
    const fs = await mount([dev], 'commit=1');
    await fs.transaction((f) => createFile(f, f.fsTree, 'timed', 257, 2));
    const gen = fs.generation;
    await new Promise((r) => setTimeout(r, 1500));
    expect(fs.generation).toBe(gen + 1);
    await fs.unmount();
    expect((await readSuper(dev)).sb.generation).toBe(gen + 1);
  });
});
