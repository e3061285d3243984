// The demo shell's `btrfs filesystem defragment` and `compsize` rows, run in-process over an
// in-process filesystem (the browser test drives the same rows through the worker).
import { describe, expect, it } from 'vitest';
import { MemoryDevice, mkfs, mount } from '../../../src/index.js';
import { btrfsCommands } from '../../../demo/shell/commands/btrfs.js';
import type { Context, Output } from '../../../demo/shell/command.js';

async function setup() {
  const dev = new MemoryDevice(128 * 1024 * 1024);
  await mkfs([dev]);
  const fs = await mount([dev]);
  const progress: string[] = [];
  const ctx = {
    fs, cwd: '/', session: { isHolder: true }, signal: new AbortController().signal,
    resolve: (p: string) => (p.startsWith('/') ? p : `/${p}`),
    progress: { update: (_f: number | undefined, label: string) => progress.push(label) },
    changed: () => undefined,
  } as unknown as Context;
  const run = async (line: string) => {
    let out = '';
    let err = '';
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += `${t}\n`) } as unknown as Output;
    const [name, ...args] = line.split(/\s+/);
    const status = await btrfsCommands.find((c) => c.name === name)!.run(ctx, args, io);
    return { status, out, err };
  };
  return { fs, run, progress };
}

describe('demo shell: defragment and compsize', () => {
  it('btrfs fi defrag -r -czstd recompresses, compsize shows the ratio as compsize prints it', async () => {
    const { fs, run, progress } = await setup();
    const text = new TextEncoder().encode('{"name": "butterfs", "kind": "filesystem", "ratio": 0.25}\n'.repeat(8000));
    await fs.promises.mkdir('/d');
    await fs.promises.writeFile('/d/a.json', text);
    await fs.promises.writeFile('/d/b.json', text.subarray(0, 100_000));
    await fs.sync();
    const before = await run('compsize -b /d');
    expect(before.status).toBe(0);
    expect(before.out).toMatch(/^Processed 2 files, 2 regular extents \(2 refs\), 0 inline\.\n/);
    expect(before.out).toMatch(/^TOTAL      100%/m);
    const d = await run('btrfs filesystem defragment -r -czstd -L 3 /d');
    expect(d, d.err).toMatchObject({ status: 0, err: '' });
    expect(progress.some((l) => l.includes('/d/a.json'))).toBe(true);
    const after = await run('compsize /d');
    expect(after.out).toMatch(/^Type       Perc     Disk Usage   Uncompressed Referenced  \n/m);
    expect(after.out).toMatch(/^Processed 2 files, 5 regular extents \(5 refs\), 0 inline\.\n/);
    expect(after.out).toMatch(/^TOTAL +\d%\s+\d+K\s+556K\s+556K\s*$/m);
    expect(after.out).toMatch(/^zstd +\d%\s+\d+K\s+556K\s+556K\s*$/m);
    expect(after.out).not.toMatch(/^none/m);
    expect(new Uint8Array(await fs.promises.readFile('/d/a.json'))).toEqual(text);
    expect(await run('btrfs filesystem defragment -cfoo /d/a.json')).toMatchObject({ status: 1, err: 'ERROR: unknown compression type: foo\n' });
    const bad = await run('btrfs filesystem defragment -czlib -L 12 /d/a.json');
    expect(bad.status).toBe(1);
    expect(bad.err).toMatch(/^ERROR: Invalid argument/);
    expect((await run('compsize /nothing')).status).toBe(1);
    await fs.unmount();
  });
});
