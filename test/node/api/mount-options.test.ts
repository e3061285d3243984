import { describe, expect, it } from 'vitest';
import { MOUNT_OPTIONS, parseMountOptions, shouldUpdateAtime, defaultMountOptions } from '../../../src/api/mount-options.js';
import { readFile } from 'node:fs/promises';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';

describe('mount options', () => {
  it('covers every option btrfs-man5 documents', async () => {
    const man = await readFile(new URL('../../../../shared/reference/btrfs-man5.txt', import.meta.url), 'utf8');
    const section = man.slice(man.indexOf('MOUNT OPTIONS'), man.indexOf('FILESYSTEM FEATURES'));
    const documented = new Set<string>();
    for (const line of section.split('\n')) {
      const m = /^ {7}([a-z_-]+(?:=[a-z\[\]:_]+)?(?:, [a-z_-]+(?:=[a-z\[\]:_]+)?)*)\s*$/.exec(line);
      if (!m) continue;
      for (const part of m[1].split(', ')) documented.add(part.split('=')[0]);
    }
    expect(documented.size).toBeGreaterThan(40);
    const known = new Set(MOUNT_OPTIONS.flatMap((r) => r.names));
    const missing = [...documented].filter((n) => !known.has(n) && n !== 'mentioning');
    expect(missing).toEqual([]);
  });

  it('applies in order, last wins, with values and no- forms', () => {
    const o = parseMountOptions('noatime,commit=5,nodatacow,datacow,max_inline=1k,nobarrier,barrier,nodiratime,ro');
    // datacow clears NODATACOW only; the NODATASUM that nodatacow set stays (as in the kernel).
    expect(o).toMatchObject({ atime: 'noatime', commitIntervalMs: 5000, dataCow: true, dataSum: false, maxInlineBytes: 1024, barrier: true, dirAtime: false, readonly: true });
    expect(parseMountOptions('strictatime,relatime').atime).toBe('relatime');
    expect(parseMountOptions('nodatacow')).toMatchObject({ dataCow: false, dataSum: false });
    expect(parseMountOptions('ro,rescue=usebackuproot:nologreplay:idatacsums')).toMatchObject({ useBackupRoot: true, noLogReplay: true, ignoreDataCsums: true });
    expect(parseMountOptions(undefined)).toEqual(defaultMountOptions());
  });

  it('refuses every unsupported option by name, with the reason', () => {
    for (const row of MOUNT_OPTIONS.filter((r) => r.refused)) {
      const name = row.names[0];
      const opt = row.kind === 'value' ? `${name}=1` : name;
      expect(() => parseMountOptions(opt), opt).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining(name) }));
    }
    for (const bad of ['bogus', 'commit=x', 'commit=-1', 'max_inline=12q', 'noatime=1', 'subvolid=abc', 'compress=gzip', 'compress=zstd:x', 'space_cache=v1', 'nologreplay', 'rescue=ignoredatacsums', 'rescue=all', 'rescue=whatever']) {
      expect(() => parseMountOptions(bad), bad).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });

  it('implements relatime, strictatime, noatime and nodiratime as btrfs does', () => {
    const day = 24 * 3600;
    const t = (sec: number, nsec = 0) => ({ sec, nsec });
    const rel = defaultMountOptions();
    expect(shouldUpdateAtime(rel, false, t(100), t(200), t(200), t(300), false)).toBe(true); // atime older than mtime
    expect(shouldUpdateAtime(rel, false, t(300), t(200), t(200), t(400), false)).toBe(false); // newer, less than a day
    expect(shouldUpdateAtime(rel, false, t(300), t(200), t(200), t(300 + day), false)).toBe(true); // a day old
    // Within one second: a read after the write updates atime once, then not again.
    expect(shouldUpdateAtime(rel, false, t(500, 1), t(500, 2), t(500, 2), t(500, 3), false)).toBe(true);
    expect(shouldUpdateAtime(rel, false, t(500, 3), t(500, 2), t(500, 2), t(500, 4), false)).toBe(false);
    expect(shouldUpdateAtime({ ...rel, atime: 'strictatime' }, false, t(300), t(200), t(200), t(301), false)).toBe(true);
    expect(shouldUpdateAtime({ ...rel, atime: 'noatime' }, false, t(0), t(200), t(200), t(301), false)).toBe(false);
    expect(shouldUpdateAtime({ ...rel, dirAtime: false }, true, t(0), t(200), t(200), t(301), false)).toBe(false);
    expect(shouldUpdateAtime(rel, false, t(0), t(200), t(200), t(301), true)).toBe(false); // chattr +A
  });

  it('a FileHandle read moves atime as the mount says, in the turn of the mutex the read takes: relatime after a change, then not again; noatime and O_NOATIME never', async () => {
    const O_NOATIME = 0o1000000;
    for (const [opts, moves] of [['', true], ['noatime', false]] as const) {
      const dev = new MemoryDevice(64 * 1024 * 1024);
      await mkfs([dev]);
      let fs = await mount([dev], opts);
      const p = fs.promises;
      await p.writeFile('/f', 'hello');
      await p.writeFile('/g', 'hello');
      // atime well before mtime: relatime moves it at the next read.
      await p.utimes('/f', 1000, 2000);
      await p.utimes('/g', 1000, 2000);
      const fh = await p.open('/f', 'r');
      await fh.read(new Uint8Array(5), 0, 5, 0);
      const first = (await p.stat('/f')).atimeMs;
      expect(first > 2_000_000, `${opts || 'relatime'}: atime ${first}`).toBe(moves);
      await fh.read(new Uint8Array(5), 0, 5, 0);
      expect((await p.stat('/f')).atimeMs).toBe(first);
      await fh.close();
      const gh = await p.open('/g', O_NOATIME);
      await gh.read(new Uint8Array(5), 0, 5, 0);
      await gh.close();
      expect((await p.stat('/g')).atimeMs).toBe(1_000_000);
      // The update was part of the transaction: it is on disk after the commit.
      await fs.unmount();
      fs = await mount([dev]);
      expect((await fs.promises.stat('/f')).atimeMs).toBe(first);
      await fs.unmount();
    }
  });
});
