// The butterfs command line, run in-process through main(argv) (the tsc-emitted dist/cli.js is
// the same module; CI's build step covers that it emits and runs). Its dumps are judged
// against btrfs-progs on the same image, its mkfs by btrfs check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { main, parseTreeId, parseSize, type CliIo } from '../../../src/cli.js';
import { FileDevice } from '../../../src/device/file.js';
import { openFs } from '../../../src/fs/open.js';
import { btrfsCheck, btrfsProg, tempDir } from '../../shared/btrfs-progs.js';

const run = promisify(execFile);
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('butterfs-cli-'));
});
afterAll(async () => {
  await cleanup?.();
});

async function cli(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) };
  const status = await main(argv, io);
  return { status, stdout, stderr };
}

/** Output without its first line (the tool and version). */
const body = (text: string) => text.slice(text.indexOf('\n') + 1);

describe('butterfs cli', () => {
  it('--help prints the usage; no command or an unknown one is an error', async () => {
    const help = await cli('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: butterfs <command>/);
    for (const c of ['mkfs', 'check', 'dump-tree', 'dump-super']) expect(help.stdout).toContain(`  ${c} `);
    expect((await cli('dump-tree', '--help')).status).toBe(0);
    expect((await cli()).status).toBe(1);
    const bad = await cli('frobnicate');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^butterfs: EINVAL: .*unknown command 'frobnicate'/);
  });

  it('reports operating errors as "butterfs: CODE: message" with status 1', async () => {
    const missing = await cli('dump-tree', join(dir, 'nope.img'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^butterfs: ENOENT: /);
    const badOpt = await cli('dump-super', '--frob', join(dir, 'nope.img'));
    expect(badOpt.status).toBe(1);
    expect(badOpt.stderr).toMatch(/^butterfs: EINVAL: /);
    const badCsum = await cli('mkfs', '--csum', 'md5', '--size', '128M', join(dir, 'x.img'));
    expect(badCsum.status).toBe(1);
    expect(badCsum.stderr).toContain("unknown checksum algorithm 'md5'");
    const noSize = await cli('mkfs', join(dir, 'absent.img'));
    expect(noSize.status).toBe(1);
    expect(noSize.stderr).toMatch(/^butterfs: ENOENT: /);
  });

  it('mkfs makes an image btrfs check accepts; check, dump-tree and dump-super read it as progs does', async () => {
    const img = join(dir, 'cli.img');
    const made = await cli('mkfs', '--size', '128M', '--nodesize', '4096', '--csum', 'xxhash', '--label', 'from cli', '-m', 'dup', '-d', 'single', img);
    expect(made.stderr).toBe('');
    expect(made.status).toBe(0);
    expect(made.stdout).toContain(`created btrfs filesystem on ${img}`);
    const judged = await btrfsCheck(img);
    expect(judged.ok, judged.output).toBe(true);

    const checked = await cli('check', img);
    expect(checked.status, checked.stdout).toBe(0);
    expect(checked.stdout).toMatch(/checked \d+ tree blocks in \d+ trees of .*: no error found/);

    const tree = await cli('dump-tree', img);
    expect(tree.status).toBe(0);
    expect(tree.stdout).toMatch(/^butterfs v\d/);
    expect(body(tree.stdout)).toBe(body((await btrfsProg(['inspect-internal', 'dump-tree', img])).output));
    const fsTree = await cli('dump-tree', '-t', 'fs', '--dfs', img);
    expect(body(fsTree.stdout)).toBe(body((await btrfsProg(['inspect-internal', 'dump-tree', '-t', '5', '--dfs', img])).output));

    const sup = await cli('dump-super', '-f', img);
    expect(sup.status).toBe(0);
    expect(sup.stdout).toContain('label\t\t\tfrom cli\n');
    expect(sup.stdout).toBe((await btrfsProg(['inspect-internal', 'dump-super', '-f', img])).output);
    const all = await cli('dump-super', '-a', img);
    expect(all.stdout).toBe((await btrfsProg(['inspect-internal', 'dump-super', '-a', img])).output);
    const second = await cli('dump-super', '-s', '1', img);
    expect(second.stdout).toBe((await btrfsProg(['inspect-internal', 'dump-super', '-s', '1', img])).output);

    // mkfs over an existing file keeps its size.
    expect((await cli('mkfs', img)).status).toBe(0);
  });

  it('check lists a corrupt leaf below a tree root; dump-tree reports it and goes on', async () => {
    const root = join(dir, 'files');
    await mkdir(root);
    for (let i = 0; i < 300; i++) await writeFile(join(root, `f${i}`), '');
    const img = join(dir, 'leaf.img');
    await writeFile(img, '');
    await truncate(img, 128 * 2 ** 20);
    await run('mkfs.btrfs', ['-f', '-q', '-n', '4096', '-m', 'single', '--rootdir', root, img]);
    const dev = await FileDevice.open(img);
    let leafBytenr: number;
    try {
      const fs = await openFs([dev], { readonly: true });
      const top = fs.fsTree.node;
      expect(top.level).toBeGreaterThan(0);
      leafBytenr = top.blockptr(1);
      const leaf = (await fs.readBlock(leafBytenr, { generation: top.ptrGeneration(1), level: top.level - 1 })).data.slice();
      leaf[leaf.length - 100] ^= 0xff;
      await fs.volumes.writeLogical(leafBytenr, leaf);
      await dev.flush();
    } finally {
      await dev.close();
    }
    const checked = await cli('check', img);
    expect(checked.status).toBe(1);
    // Worded loosely enough to hold for the interim walk and for fs/check.ts alike.
    expect(checked.stdout).toMatch(new RegExp(`^ERROR: .*\\b${leafBytenr}\\b`, 'm'));
    expect(checked.stdout).toMatch(/\d+ error\(s\) found/);
    const dumped = await cli('dump-tree', '-t', '5', img);
    expect(dumped.status).toBe(1);
    expect(dumped.stderr).toContain(`ERROR: failed to read tree block ${leafBytenr}: EIO`);
    expect(dumped.stdout).toMatch(/^total bytes \d+$/m);
  });

  it('check and dump-tree fail with status 1 on a corrupt tree root', async () => {
    const img = join(dir, 'corrupt.img');
    expect((await cli('mkfs', '--size', '128M', '-m', 'single', img)).status).toBe(0);
    const dev = await FileDevice.open(img);
    try {
      const fs = await openFs([dev], { readonly: true });
      const leaf = fs.fsTree.node.data.slice();
      leaf[leaf.length - 100] ^= 0xff;
      await fs.volumes.writeLogical(fs.fsTree.node.bytenr, leaf);
      await dev.flush();
    } finally {
      await dev.close();
    }
    const checked = await cli('check', img);
    expect(checked.status).toBe(1);
    expect(checked.stderr).toMatch(/^butterfs: EIO: .*checksum mismatch/);
    expect((await cli('dump-tree', img)).status).toBe(1);
  });

  it('parses tree names and sizes as progs and mkfs do', () => {
    expect(parseTreeId('5')).toBe(5);
    expect(parseTreeId('fs')).toBe(5);
    expect(parseTreeId('FS_TREE')).toBe(5);
    expect(parseTreeId('BTRFS_CSUM_TREE_OBJECTID')).toBe(7);
    expect(parseTreeId('device')).toBe(4);
    expect(parseTreeId('data_reloc')).toBe(-9);
    expect(parseTreeId('tree_log_fixup')).toBe(-7);
    expect(() => parseTreeId('fsx')).toThrow(/suffix/);
    expect(() => parseTreeId('bogus')).toThrow(/unrecognized tree id/);
    expect(() => parseTreeId('0')).toThrow(/unrecognized tree id/);
    expect(parseSize('256M')).toBe(256 * 2 ** 20);
    expect(parseSize('1g')).toBe(2 ** 30);
    expect(parseSize('4096')).toBe(4096);
    expect(() => parseSize('12Q')).toThrow(/invalid size/);
  });
});
