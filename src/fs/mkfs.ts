// mkfs (btrfs-progs mkfs/main.c, mkfs/common.c): a new filesystem on one device, made by
// the same engine that later changes it: chunks are created in memory, every tree gets an
// empty root, the items of a fresh filesystem are inserted, and one ordinary commit writes
// it all (chunk, dev, extent and free space items come from the pending block group and
// delayed ref paths, exactly as at run time).
//
// The format leaves room for what comes later: devids, chunk profiles and the feature words
// are the general ones; only one device and the single/dup profiles are made here today.
import type { BlockDevice } from '../device/block-device.js';
import { SuperBlock, RootItem, InodeItem, InodeRef, DirItem, type DevItem } from '../format/structs.js';
import { Key } from '../format/key.js';
import { viewOf } from '../format/struct.js';
import {
  BlockGroupFlags, ItemType, IncompatFlags, CompatRoFlags, ROOT_TREE_OBJECTID, EXTENT_TREE_OBJECTID, CHUNK_TREE_OBJECTID,
  DEV_TREE_OBJECTID, FS_TREE_OBJECTID, ROOT_TREE_DIR_OBJECTID, CSUM_TREE_OBJECTID, UUID_TREE_OBJECTID,
  FREE_SPACE_TREE_OBJECTID, DATA_RELOC_TREE_OBJECTID, FIRST_INODE_OBJECTID, DEV_ITEMS_OBJECTID, FileType, LABEL_SIZE,
  MIN_NODESIZE, MAX_NODESIZE,
} from '../format/constants.js';
import { btrfsNameHash, csumTypeByName, loadKernels, type CsumName } from '../kernels/checksum.js';
import { insertItem } from '../tree/ctree.js';
import { Volumes } from '../volume/volumes.js';
import { profileByName, type ProfileName } from '../volume/raid.js';
import { FsError } from '../util/errors.js';
import { FsInfo, Root } from './fs-info.js';
import { createChunk } from './space.js';
import { startTransaction, commitTransaction, encodeDevItem } from './transaction.js';

export type FeatureName = 'mixed-bg' | 'extref' | 'raid56' | 'skinny-metadata' | 'no-holes' | 'zoned' | 'quota' | 'free-space-tree' | 'block-group-tree' | 'raid-stripe-tree' | 'squota';

/** mkfs.btrfs -O features: which we make, and why the others are refused. */
const FEATURES: Record<string, { incompat?: number; compatRo?: number; supported: boolean; why?: string }> = {
  'extref': { incompat: IncompatFlags.EXTENDED_IREF, supported: true },
  'skinny-metadata': { incompat: IncompatFlags.SKINNY_METADATA, supported: true },
  'no-holes': { incompat: IncompatFlags.NO_HOLES, supported: true },
  'free-space-tree': { compatRo: CompatRoFlags.FREE_SPACE_TREE | CompatRoFlags.FREE_SPACE_TREE_VALID, supported: true },
  'mixed-bg': { supported: false, why: 'mixed data and metadata block groups are not supported' },
  'raid56': { supported: false, why: 'raid5/raid6 are not supported yet' },
  'zoned': { supported: false, why: 'zoned mode is not supported yet' },
  'quota': { supported: false, why: 'quotas are not supported yet' },
  'squota': { supported: false, why: 'simple quotas are not supported yet' },
  'block-group-tree': { supported: false, why: 'the block group tree is not supported yet' },
  'raid-stripe-tree': { supported: false, why: 'the raid stripe tree is not supported yet' },
};
const DEFAULT_FEATURES = ['extref', 'skinny-metadata', 'no-holes', 'free-space-tree'];

export interface MkfsOptions {
  label?: string;
  nodesize?: number;
  sectorsize?: number;
  csum?: CsumName;
  data?: ProfileName;
  metadata?: ProfileName;
  /** Feature names as mkfs.btrfs -O takes them; a leading '^' turns a default off. */
  features?: string[];
  /** Fixed uuid (tests); random otherwise. */
  uuid?: Uint8Array;
  /** Time to stamp (tests); now otherwise. */
  nowMs?: number;
}

export interface MkfsResult {
  fsid: Uint8Array;
  generation: number;
}

const MiB = 1024 * 1024;

function randomUuid(): Uint8Array {
  const u = new Uint8Array(16);
  globalThis.crypto.getRandomValues(u);
  u[6] = (u[6] & 0x0f) | 0x40; // version 4
  u[8] = (u[8] & 0x3f) | 0x80; // variant
  return u;
}

function resolveFeatures(list: string[] | undefined): { incompat: number; compatRo: number } {
  const on = new Set(DEFAULT_FEATURES);
  for (const raw of list ?? []) {
    const off = raw.startsWith('^');
    const name = off ? raw.slice(1) : raw;
    const f = FEATURES[name];
    if (!f) throw new FsError('EINVAL', `unknown feature '${name}'`);
    if (off) on.delete(name);
    else if (!f.supported) throw new FsError('EINVAL', `feature '${name}': ${f.why}`);
    else on.add(name);
  }
  if (!on.has('skinny-metadata')) throw new FsError('EINVAL', "feature 'skinny-metadata' cannot be turned off: butterfs writes skinny metadata only");
  if (!on.has('free-space-tree')) throw new FsError('EINVAL', "feature 'free-space-tree' cannot be turned off: butterfs keeps free space only in the free space tree");
  let incompat = IncompatFlags.MIXED_BACKREF;
  let compatRo = 0;
  for (const n of on) {
    incompat |= FEATURES[n].incompat ?? 0;
    compatRo |= FEATURES[n].compatRo ?? 0;
  }
  return { incompat, compatRo };
}

function timeNow(ms: number) {
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}

export async function mkfs(devices: BlockDevice[], options: MkfsOptions = {}): Promise<MkfsResult> {
  await loadKernels();
  if (devices.length !== 1) {
    throw new FsError('EINVAL', devices.length === 0 ? 'mkfs needs a device' : 'mkfs on several devices is not supported yet');
  }
  const dev = devices[0];
  const sectorsize = options.sectorsize ?? 4096;
  if (sectorsize !== 4096) throw new FsError('EINVAL', `sectorsize ${sectorsize}: only 4096 is supported (the browser's page size)`);
  const nodesize = options.nodesize ?? 16384;
  if (!Number.isInteger(nodesize) || nodesize < MIN_NODESIZE || nodesize > MAX_NODESIZE || (nodesize & (nodesize - 1)) !== 0 || nodesize < sectorsize) {
    throw new FsError('EINVAL', `nodesize ${nodesize}: must be a power of two from ${Math.max(MIN_NODESIZE, sectorsize)} to ${MAX_NODESIZE}`);
  }
  const csum = csumTypeByName(options.csum ?? 'crc32c');
  const label = new TextEncoder().encode(options.label ?? '');
  if (label.length >= LABEL_SIZE) throw new FsError('EINVAL', `label is ${label.length} bytes; at most ${LABEL_SIZE - 1}`);
  const profiles = { data: options.data ?? 'single', metadata: options.metadata ?? 'dup' };
  for (const [what, name] of Object.entries(profiles)) {
    const p = profileByName(name);
    if (!p) throw new FsError('EINVAL', `unknown ${what} profile '${name}'`);
    if (p.devsMin > devices.length) throw new FsError('EINVAL', `${what} profile ${name} needs at least ${p.devsMin} devices`);
  }
  const { incompat, compatRo } = resolveFeatures(options.features);
  const totalBytes = Math.floor(dev.sizeBytes / sectorsize) * sectorsize;
  const minBytes = 64 * MiB;
  if (totalBytes < minBytes) throw new FsError('ENOSPC', `device of ${totalBytes} bytes is too small; butterfs needs at least ${minBytes}`);

  const fsid = options.uuid ?? randomUuid();
  const chunkTreeUuid = randomUuid();
  const devUuid = randomUuid();
  const now = timeNow(options.nowMs ?? Date.now());

  const devItem: DevItem = {
    devid: 1, totalBytes, bytesUsed: 0, ioAlign: sectorsize, ioWidth: sectorsize, sectorSize: sectorsize, type: 0,
    generation: 0, startOffset: 0, devGroup: 0, seekSpeed: 0, bandwidth: 0, uuid: devUuid, fsid,
  };
  const sb = SuperBlock.zero();
  Object.assign(sb, {
    fsid, flags: 1, generation: 0, totalBytes, bytesUsed: 0, rootDirObjectid: ROOT_TREE_DIR_OBJECTID, numDevices: 1,
    sectorsize, nodesize, unusedLeafsize: nodesize, stripesize: sectorsize, compatRoFlags: compatRo, incompatFlags: incompat,
    csumType: csum.id, devItem, label,
  });
  const volumes = new Volumes();
  volumes.devices.set(1, { devid: 1, uuid: devUuid, device: dev, item: devItem });
  const fs = new FsInfo({ sb, csum: csum.name, volumes, readonly: false });
  fs.pendingChunkTreeUuid = chunkTreeUuid;
  startTransaction(fs);

  const meta = profileByName(profiles.metadata)!.flag;
  const data = profileByName(profiles.data)!.flag;
  createChunk(fs, BlockGroupFlags.SYSTEM, meta, totalBytes < 1024 * MiB ? 4 * MiB : 8 * MiB);
  createChunk(fs, BlockGroupFlags.METADATA, meta);
  createChunk(fs, BlockGroupFlags.DATA, data);

  // Empty roots of every tree. The chunk tree first, so its uuid is the one all headers carry.
  const rootOf = (id: number, withItem: boolean, dirid = 0, uuid?: Uint8Array) => {
    const node = fs.allocBlock(id, 0);
    let item;
    if (withItem) {
      item = RootItem.zero();
      Object.assign(item.inode, { generation: 1, size: 3, nlink: 1, nbytes: nodesize, mode: 0o40755 });
      Object.assign(item, { generation: fs.transid, generationV2: fs.transid, rootDirid: dirid, bytenr: node.bytenr, level: 0, refs: 1, bytesUsed: nodesize });
      if (uuid) Object.assign(item, { uuid, ctime: now, otime: now, ctransid: 0, otransid: 0 });
    }
    const r = new Root(id, node, item);
    fs.roots.set(id, r);
    return r;
  };
  rootOf(CHUNK_TREE_OBJECTID, false);
  fs.pendingChunkTreeUuid = undefined;
  const rootTree = rootOf(ROOT_TREE_OBJECTID, false);
  const fsTreeUuid = randomUuid();
  const withItems = [
    rootOf(EXTENT_TREE_OBJECTID, true),
    rootOf(DEV_TREE_OBJECTID, true),
    rootOf(FS_TREE_OBJECTID, true, FIRST_INODE_OBJECTID, fsTreeUuid),
    rootOf(CSUM_TREE_OBJECTID, true),
    rootOf(UUID_TREE_OBJECTID, true),
    rootOf(FREE_SPACE_TREE_OBJECTID, true),
    rootOf(DATA_RELOC_TREE_OBJECTID, true, FIRST_INODE_OBJECTID),
  ];
  for (const r of withItems) {
    const buf = new Uint8Array(RootItem.size);
    RootItem.encode(viewOf(buf), 0, r.item!);
    await insertItem(fs, rootTree, Key.of(r.objectid, ItemType.ROOT_ITEM, 0), buf);
  }

  await insertItem(fs, fs.chunkTree, Key.of(DEV_ITEMS_OBJECTID, ItemType.DEV_ITEM, 1), encodeDevItem(devItem));

  // The root tree's directory (objectid 6) with its "default" entry naming the fs tree.
  const dirInode = (nbytes: number) => {
    const ii = InodeItem.zero();
    Object.assign(ii, { generation: fs.transid, transid: fs.transid, size: 0, nbytes, nlink: 1, mode: 0o40755, atime: now, ctime: now, mtime: now, otime: now });
    const b = new Uint8Array(InodeItem.size);
    InodeItem.encode(viewOf(b), 0, ii);
    return b;
  };
  const dotdot = () => {
    const name = new TextEncoder().encode('..');
    const b = new Uint8Array(InodeRef.size + name.length);
    InodeRef.encode(viewOf(b), 0, { index: 0, nameLen: name.length });
    b.set(name, InodeRef.size);
    return b;
  };
  await insertItem(fs, rootTree, Key.of(ROOT_TREE_DIR_OBJECTID, ItemType.INODE_ITEM, 0), dirInode(nodesize));
  await insertItem(fs, rootTree, Key.of(ROOT_TREE_DIR_OBJECTID, ItemType.INODE_REF, ROOT_TREE_DIR_OBJECTID), dotdot());
  const defaultName = new TextEncoder().encode('default');
  const di = new Uint8Array(DirItem.size + defaultName.length);
  DirItem.encode(viewOf(di), 0, { location: Key.of(FS_TREE_OBJECTID, ItemType.ROOT_ITEM, -1), transid: 0, dataLen: 0, nameLen: defaultName.length, type: FileType.DIR });
  di.set(defaultName, DirItem.size);
  await insertItem(fs, rootTree, Key.of(ROOT_TREE_DIR_OBJECTID, ItemType.DIR_ITEM, btrfsNameHash(defaultName)), di);

  // Root directories of the fs tree and the data relocation tree.
  for (const id of [FS_TREE_OBJECTID, DATA_RELOC_TREE_OBJECTID]) {
    const r = fs.root(id);
    await insertItem(fs, r, Key.of(FIRST_INODE_OBJECTID, ItemType.INODE_ITEM, 0), dirInode(id === FS_TREE_OBJECTID ? nodesize : 0));
    await insertItem(fs, r, Key.of(FIRST_INODE_OBJECTID, ItemType.INODE_REF, FIRST_INODE_OBJECTID), dotdot());
  }

  // uuid tree: the fs tree's uuid -> subvolume 5.
  await insertItem(fs, fs.root(UUID_TREE_OBJECTID), uuidKey(fsTreeUuid, ItemType.UUID_KEY_SUBVOL), le64(FS_TREE_OBJECTID));

  await commitTransaction(fs);
  return { fsid, generation: fs.sb.generation };
}

/** UUID tree key: the uuid's two little-endian u64 halves as objectid and offset. */
export function uuidKey(uuid: Uint8Array, type: number): Key {
  const dv = viewOf(uuid);
  return new Key(dv.getUint32(4, true), dv.getUint32(0, true), type, dv.getUint32(12, true), dv.getUint32(8, true));
}

function le64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = viewOf(b);
  dv.setUint32(0, n >>> 0, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  return b;
}
