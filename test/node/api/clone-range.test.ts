// fs.cloneRange: FICLONERANGE semantics through the public API, judged by our check and btrfs check.
import { describe, expect, it } from 'vitest';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import { btrfsCheckDevice } from '../../shared/btrfs-progs.js';

describe('fs.cloneRange', () => {
  it('shares ranges between files and subvolumes, and refuses what btrfs refuses', async () => {
    const dev = new MemoryDevice(256 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev]);
    const p = fs.promises;
    const a = new Uint8Array(64 * 1024).map((_, i) => (i * 13) & 0xff);
    await p.writeFile('/a', a);
    await p.writeFile('/b', new Uint8Array(16 * 1024).fill(9));
    await fs.sync();
    const used = fs.info.sb.bytesUsed;
    expect(await fs.cloneRange('/a', 8192, 16384, '/b', 4096)).toBe(16384);
    const b = await p.readFile('/b');
    expect(b.subarray(0, 4096).every((x) => x === 9)).toBe(true);
    expect(Buffer.from(b.subarray(4096, 20480)).equals(Buffer.from(a.subarray(8192, 24576)))).toBe(true);
    expect(b.length).toBe(20480);
    await fs.sync();
    // Shared, not copied: data used does not grow by the cloned 16 KiB.
    expect(fs.info.sb.bytesUsed - used).toBeLessThan(16384);
    // Across subvolumes, length 0 = to EOF.
    await fs.subvolume.create('/sv');
    await p.writeFile('/sv/c', '');
    expect(await fs.cloneRange('/a', 0, 0, '/sv/c', 0)).toBe(a.length);
    expect(Buffer.from(await p.readFile('/sv/c')).equals(Buffer.from(a))).toBe(true);
    // Writes after the clone change one side only.
    await p.writeFile('/a', new Uint8Array(4096).fill(1), { flag: 'r+' });
    expect((await p.readFile('/sv/c'))[0]).toBe(a[0]);
    await expect(fs.cloneRange('/a', 100, 4096, '/b', 0)).rejects.toMatchObject({ code: 'EINVAL', syscall: 'ioctl', path: '/a', dest: '/b' });
    await expect(fs.cloneRange('/a', 0, 4096, '/nope', 0)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.cloneRange('/a', 0, 4096, '/sv', 0)).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(fs.cloneRange('/a', -1, 4096, '/b', 0)).rejects.toMatchObject({ code: 'EINVAL' });
    await fs.attributes.set('/b', '+i');
    await expect(fs.cloneRange('/a', 0, 4096, '/b', 0)).rejects.toMatchObject({ code: 'EPERM' });
    await fs.attributes.set('/b', '-i');
    await fs.subvolume.snapshot('/sv', '/ro', { readonly: true });
    await expect(fs.cloneRange('/a', 0, 4096, '/ro/c', 0)).rejects.toMatchObject({ code: 'EROFS' });
    expect((await fs.check()).errors).toEqual([]);
    await fs.unmount();
    const r = await btrfsCheckDevice(dev);
    expect(r.ok, r.output).toBe(true);
  });
  it('copies a compressed inline extent as its file bytes, not as many bytes as the item stores', async () => {
    const dev = new MemoryDevice(128 * 1024 * 1024);
    await mkfs([dev]);
    const fs = await mount([dev], 'compress=zstd:1');
    const p = fs.promises;
    // 151 compressible bytes: a compressed inline extent whose item holds far fewer.
    const small = new TextEncoder().encode('abcabcabcabc '.repeat(11) + 'the end.');
    await p.writeFile('/src', small);
    // Into an empty file (an inline item again), and at the end of a larger one (a data extent).
    await p.copyFile('/src', '/copy', 2 /* COPYFILE_FICLONE */);
    expect(Buffer.from(await p.readFile('/copy')).equals(Buffer.from(small))).toBe(true);
    await p.writeFile('/big', new Uint8Array(4096).fill(7));
    expect(await fs.cloneRange('/src', 0, 0, '/big', 4096)).toBe(small.length);
    const big = await p.readFile('/big');
    expect(Buffer.from(big.subarray(4096)).equals(Buffer.from(small))).toBe(true);
    expect(big.subarray(0, 4096).every((x) => x === 7)).toBe(true);
    await fs.unmount();
    const r = await btrfsCheckDevice(dev);
    expect(r.ok, r.output).toBe(true);
  });
});
