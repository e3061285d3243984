#!/usr/bin/env node
// The butterfs command line (package.json "bin"): mkfs, check, dump-tree and dump-super on image
// files, with btrfs-progs' option names where progs has them, so a butterfs image and its
// progs counterpart can be handled, and their dumps diffed, the same way.
//
// Node only (node:fs through FileDevice, node:util's parseArgs). main() takes argv and returns
// the exit status, so tests call it in-process; it runs by itself only when this file is the
// program (`node dist/cli.js`, or the npm bin link to it).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FileDevice } from './device/file.js';
import type { BlockDevice } from './device/block-device.js';
import { mkfs, type MkfsOptions } from './fs/mkfs.js';
import { openFs } from './fs/open.js';
import { dumpTreeTo, type DumpTreeOptions } from './fs/print-tree.js';
import { dumpSuper } from './fs/print-super.js';
import { superMirrorCount } from './fs/super.js';
import { SuperBlock } from './format/structs.js';
import {
  SUPER_INFO_SIZE, SUPER_MAGIC_STRING, SUPER_MIRROR_MAX, superblockOffset,
  ROOT_TREE_OBJECTID, EXTENT_TREE_OBJECTID, CHUNK_TREE_OBJECTID, DEV_TREE_OBJECTID, FS_TREE_OBJECTID, CSUM_TREE_OBJECTID,
  QUOTA_TREE_OBJECTID, UUID_TREE_OBJECTID, FREE_SPACE_TREE_OBJECTID, TREE_LOG_FIXUP_OBJECTID, TREE_LOG_OBJECTID,
  TREE_RELOC_OBJECTID, DATA_RELOC_TREE_OBJECTID,
} from './format/constants.js';
import { CSUM_TYPES, loadKernels, type CsumName } from './kernels/checksum.js';
import { check as checkFs } from './fs/check.js';
import { RAID_PROFILES, type ProfileName } from './volume/raid.js';
import { FsError, isFsError } from './util/errors.js';

export interface CliIo {
  /** May return a promise to hold the producer back until the text is taken (a full pipe). */
  stdout(text: string): void | Promise<void>;
  stderr(text: string): void;
}

const processIo: CliIo = {
  stdout: (t) => (process.stdout.write(t) ? undefined : new Promise<void>((resolve) => process.stdout.once('drain', resolve))),
  stderr: (t) => void process.stderr.write(t),
};

const USAGE = `usage: butterfs <command> [options] IMAGE

commands:
  mkfs [--csum ALG] [--nodesize N] [--label L] [-m PROFILE] [-d PROFILE] [--size BYTES] IMAGE
        make a btrfs filesystem on the image file IMAGE (created with --size, or the
        existing file's size). ALG: ${CSUM_TYPES.map((t) => t.name).join(', ')}. PROFILE: single, dup, ...
        BYTES may end in K, M, G or T.
  check IMAGE
        open IMAGE read-only and read every tree block of every tree, verified
        (checksum, header, generation, tree-checker)
  dump-tree [-t TREE] [--bfs|--dfs] [--hide-names] [--csum-headers] [--csum-items] IMAGE
        print the trees as 'btrfs inspect-internal dump-tree' does; TREE is an id
        or a name (root, extent, chunk, dev, fs, csum, quota, uuid, free_space, ...)
  dump-super [-f] [-a] [-s COPY] [-F] IMAGE
        print a superblock copy as 'btrfs inspect-internal dump-super' does

  --help  this text
`;

function version(): string {
  // package.json sits beside src/ and beside dist/, one level up from this file either way.
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return `butterfs v${pkg.version ?? '?'}`;
  } catch {
    return 'butterfs';
  }
}

function usageError(message: string): FsError {
  return new FsError('EINVAL', message);
}

type ArgOptions = NonNullable<ParseArgsConfig['options']>;

function parse<const T extends ArgOptions>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true as const, strict: true as const });
  } catch (e) {
    throw usageError((e as Error).message);
  }
}

function oneImage(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw usageError(`${command} takes one IMAGE, got ${positionals.length}`);
  return positionals[0]!;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** "268435456", "256M", "1g": bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMGT]?)(i?B)?$/i.exec(text.trim());
  if (!m) throw usageError(`invalid size '${text}'`);
  const n = Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(n)) throw usageError(`size '${text}' is too large`);
  return n;
}

function parseInteger(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw usageError(`invalid ${what} '${text}'`);
  return Number(text);
}

/** Tree names as dump-tree -t takes them (progs' treeid_from_string), longest prefix first. */
const TREE_NAMES: [string, number][] = [
  ['ROOT', ROOT_TREE_OBJECTID], ['EXTENT', EXTENT_TREE_OBJECTID], ['CHUNK', CHUNK_TREE_OBJECTID],
  ['DEVICE', DEV_TREE_OBJECTID], ['DEV', DEV_TREE_OBJECTID], ['FS', FS_TREE_OBJECTID], ['CSUM', CSUM_TREE_OBJECTID],
  ['CHECKSUM', CSUM_TREE_OBJECTID], ['QUOTA', QUOTA_TREE_OBJECTID], ['UUID', UUID_TREE_OBJECTID],
  ['FREE_SPACE', FREE_SPACE_TREE_OBJECTID], ['TREE_LOG_FIXUP', TREE_LOG_FIXUP_OBJECTID], ['TREE_LOG', TREE_LOG_OBJECTID],
  ['TREE_RELOC', TREE_RELOC_OBJECTID], ['DATA_RELOC', DATA_RELOC_TREE_OBJECTID],
];

/** A tree id from a number or a name ("fs", "FS_TREE", "BTRFS_CSUM_TREE_OBJECTID", "data_reloc"...). */
export function parseTreeId(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n === 0 || !Number.isSafeInteger(n)) throw usageError(`unrecognized tree id: ${text}`);
    return n;
  }
  let rest = text.toUpperCase();
  if (rest.startsWith('BTRFS_')) rest = rest.slice(6);
  const hit = TREE_NAMES.find(([name]) => rest.startsWith(name));
  if (!hit) throw usageError(`unrecognized tree id: ${text}`);
  rest = rest.slice(hit[0].length);
  if (rest.startsWith('_TREE')) rest = rest.slice(5);
  if (rest.startsWith('_OBJECTID')) rest = rest.slice(9);
  if (rest) throw usageError(`unexpected tree id suffix of '${text}': ${rest}`);
  return hit[1];
}

async function withImage<T>(path: string, fn: (dev: BlockDevice) => Promise<T>): Promise<T> {
  const dev = await FileDevice.open(path);
  try {
    return await fn(dev);
  } finally {
    await dev.close();
  }
}

// ---- mkfs

async function cmdMkfs(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    csum: { type: 'string' },
    nodesize: { type: 'string', short: 'n' },
    label: { type: 'string', short: 'L' },
    metadata: { type: 'string', short: 'm' },
    data: { type: 'string', short: 'd' },
    size: { type: 'string' },
  });
  const image = oneImage(positionals, 'mkfs');
  const profile = (name: string | undefined, what: string): ProfileName | undefined => {
    if (name === undefined) return undefined;
    const p = RAID_PROFILES.find((r) => r.name === name.toLowerCase());
    if (!p) throw usageError(`unknown ${what} profile '${name}'`);
    return p.name;
  };
  let csum: CsumName | undefined;
  if (values.csum !== undefined) {
    const t = CSUM_TYPES.find((c) => c.name === values.csum || c.displayName === values.csum);
    if (!t) throw usageError(`unknown checksum algorithm '${values.csum}'`);
    csum = t.name;
  }
  const options: MkfsOptions = {
    csum,
    nodesize: values.nodesize === undefined ? undefined : parseSize(values.nodesize),
    label: values.label,
    metadata: profile(values.metadata, 'metadata'),
    data: profile(values.data, 'data'),
  };
  const dev = values.size === undefined ? await FileDevice.open(image) : await FileDevice.create(image, parseSize(values.size));
  try {
    const r = await mkfs([dev], options);
    await dev.flush();
    await io.stdout(`created btrfs filesystem on ${image}\n` +
      `uuid ${formatUuidText(r.fsid)}\nsize ${dev.sizeBytes}\ngeneration ${r.generation}\n`);
  } finally {
    await dev.close();
  }
  return 0;
}

function formatUuidText(b: Uint8Array): string {
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---- check

async function cmdCheck(args: string[], io: CliIo): Promise<number> {
  const { positionals } = parse(args, {});
  const image = oneImage(positionals, 'check');
  return withImage(image, async (dev) => {
    const fs = await openFs([dev], { readonly: true });
    const report = await checkFs(fs);
    if (report.droppedErrors > 0) await io.stdout(`(${report.droppedErrors} more errors not shown)\n`);
    for (const p of report.errors) await io.stdout(`ERROR: ${p}\n`);
    await io.stdout(`checked ${report.stats.treeBlocks} tree blocks in ${report.stats.trees} trees of ${image}: ` +
      `${report.ok ? 'no error found' : `${report.errors.length} error(s) found`}\n`);
    return report.ok ? 0 : 1;
  });
}

// ---- dump-tree

async function cmdDumpTree(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    tree: { type: 'string', short: 't' },
    bfs: { type: 'boolean' },
    dfs: { type: 'boolean' },
    'hide-names': { type: 'boolean' },
    'csum-headers': { type: 'boolean' },
    'csum-items': { type: 'boolean' },
  });
  const image = oneImage(positionals, 'dump-tree');
  const opts: DumpTreeOptions = {
    tree: values.tree === undefined ? undefined : parseTreeId(values.tree),
    // As in progs, --bfs wins when both are given.
    traverse: values.dfs && !values.bfs ? 'dfs' : 'bfs',
    hideNames: values['hide-names'],
    csumHeaders: values['csum-headers'],
    csumItems: values['csum-items'],
  };
  let errors = 0;
  opts.onError = (message) => {
    errors++;
    io.stderr(`ERROR: ${message}\n`);
  };
  return withImage(image, async (dev) => {
    const fs = await openFs([dev], { readonly: true });
    await io.stdout(`${version()}\n`);
    await dumpTreeTo(fs, io.stdout, opts);
    return errors ? 1 : 0;
  });
}

// ---- dump-super

async function cmdDumpSuper(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    full: { type: 'boolean', short: 'f' },
    all: { type: 'boolean', short: 'a' },
    super: { type: 'string', short: 's' },
    force: { type: 'boolean', short: 'F' },
  });
  const image = oneImage(positionals, 'dump-super');
  const copy = values.super === undefined ? 0 : parseInteger(values.super, 'superblock copy');
  if (copy >= SUPER_MIRROR_MAX) throw usageError(`superblock copy ${copy} does not exist (0, 1 or 2)`);
  await loadKernels();
  return withImage(image, async (dev) => {
    const copies = values.all ? [...Array(superMirrorCount(dev.sizeBytes)).keys()] : [copy];
    let status = 0;
    for (const mirror of copies) {
      const offset = superblockOffset(mirror);
      if (offset + SUPER_INFO_SIZE > dev.sizeBytes) throw new FsError('EINVAL', `superblock copy ${mirror} at ${offset} is beyond the end of ${image}`);
      const raw = await dev.read(offset, SUPER_INFO_SIZE);
      const magic = new TextDecoder('latin1').decode(raw.subarray(SuperBlock.off.magic, SuperBlock.off.magic + 8));
      if (magic !== SUPER_MAGIC_STRING && !values.force) {
        io.stderr(`butterfs: EINVAL: bad magic on superblock on ${image} at ${offset} (use --force to dump it anyway)\n`);
        status = 1;
        continue;
      }
      await io.stdout(dumpSuper(raw, { full: values.full, device: image, mirror }));
    }
    // progs ends a dump of all copies with one more empty line.
    if (values.all) await io.stdout('\n');
    return status;
  });
}

// ---- entry

const COMMANDS: Record<string, (args: string[], io: CliIo) => Promise<number>> = {
  mkfs: cmdMkfs,
  check: cmdCheck,
  'dump-tree': cmdDumpTree,
  'dump-super': cmdDumpSuper,
};

/** Runs one command line (without node and the script path); resolves to the exit status. */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help' || args.includes('--help')) {
    (command === undefined ? io.stderr : io.stdout)(USAGE);
    return command === undefined ? 1 : 0;
  }
  const run = COMMANDS[command];
  try {
    if (!run) throw usageError(`unknown command '${command}' (see butterfs --help)`);
    return await run(args, io);
  } catch (e) {
    // Operating errors are reported; anything else is a bug and keeps its stack trace.
    if (!isFsError(e)) throw e;
    io.stderr(`butterfs: ${e.message}\n`);
    return 1;
  }
}

function isProgram(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isProgram()) {
  // `butterfs dump-tree IMAGE | head`: the reader went away; stop quietly, as progs does.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(process.exitCode ?? 0);
  });
  main(process.argv.slice(2)).then(
    (status) => {
      process.exitCode = status;
    },
    (e: unknown) => {
      process.stderr.write(`butterfs: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
