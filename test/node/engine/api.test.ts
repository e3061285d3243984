// The engine-level public API: mkfs, mount with an option string, check, dump-tree, unmount.
import { describe, expect, it } from 'vitest';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import { createFile } from '../../shared/simple-files.js';

describe('public engine API', () => {
  it('formats, mounts, changes, checks, dumps and remounts', async () => {
    const dev = new MemoryDevice(128 * 1024 * 1024);
    const { fsid, generation } = await mkfs([dev], { label: 'api', csum: 'sha256', nodesize: 4096 });
    expect(fsid).toHaveLength(16);
    expect(generation).toBe(1);
    const fs = await mount([dev], 'noflushoncommit,commit=30');
    for (let i = 0; i < 200; i++) await fs.transaction((f) => createFile(f, f.fsTree, `n${i}`, 257 + i, 2 + i));
    const verdict = await fs.check();
    expect(verdict).toMatchObject({ ok: true, errors: [] });
    expect(fs.generation).toBe(2);
    const dump = await fs.dumpTree({ tree: 5 });
    expect(dump).toMatch(/fs tree key \(FS_TREE ROOT_ITEM 0\)/);
    expect(dump.match(/item \d+ key \(256 DIR_INDEX/g)).toHaveLength(200);
    expect(await fs.dumpSuper()).toMatch(/label\s+api/);
    await fs.unmount();
    await expect(fs.sync()).rejects.toMatchObject({ code: 'EIO' });
    const again = await mount([dev], 'ro');
    expect(again.generation).toBe(2);
    expect((await again.check()).ok).toBe(true);
    await again.unmount();
  });
});
