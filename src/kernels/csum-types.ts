// The btrfs checksum types: one row per algorithm, as btrfs's `btrfs_csums[]` table.
//
// Owns: the names, on-disk ids and digest sizes of the checksum algorithms, and the
// lookups from a superblock's csum_type (untrusted, from disk) or a user's option string.
// Nothing else in butterfs repeats these numbers; code reads this table.

import { FsError } from '../util/errors.js';

/** The names butterfs uses in its API (mkfs `csum` option), as `mkfs.btrfs --csum` spells them. */
export type CsumName = 'crc32c' | 'xxhash' | 'sha256' | 'blake2';

export interface CsumType {
  readonly name: CsumName;
  /** `csum_type` in the superblock (BTRFS_CSUM_TYPE_*). */
  readonly id: number;
  /** Bytes of the digest; the on-disk csum fields are BTRFS_CSUM_SIZE bytes, zero-padded after it. */
  readonly sizeBytes: number;
  /** The name btrfs-progs prints (`dump-super`: "csum_type 1 (xxhash64)"). */
  readonly displayName: string;
}

/** Size of every checksum field on disk (superblock, tree block header), whatever the algorithm. */
export const BTRFS_CSUM_SIZE = 32;

/** Indexed by id: CSUM_TYPES[id].id === id. */
export const CSUM_TYPES: readonly CsumType[] = Object.freeze([
  Object.freeze({ name: 'crc32c', id: 0, sizeBytes: 4, displayName: 'crc32c' }),
  Object.freeze({ name: 'xxhash', id: 1, sizeBytes: 8, displayName: 'xxhash64' }),
  Object.freeze({ name: 'sha256', id: 2, sizeBytes: 32, displayName: 'sha256' }),
  Object.freeze({ name: 'blake2', id: 3, sizeBytes: 32, displayName: 'blake2b' }),
] as const satisfies readonly CsumType[]);

const BY_NAME: ReadonlyMap<string, CsumType> = new Map(
  CSUM_TYPES.flatMap((t) => [[t.name, t] as const, [t.displayName, t] as const]),
);

// Checked once at load: the table is indexed by id, and no digest outgrows the on-disk field.
for (let id = 0; id < CSUM_TYPES.length; id++) {
  const t = CSUM_TYPES[id]!;
  if (t.id !== id) throw new Error(`csum-types: row ${id} has id ${t.id}`);
  if (t.sizeBytes > BTRFS_CSUM_SIZE) throw new Error(`csum-types: ${t.name} digest exceeds BTRFS_CSUM_SIZE`);
}

/** The type with this on-disk id. An unknown id (a corrupt or newer superblock) is EINVAL, as in btrfs. */
export function csumTypeById(id: number): CsumType {
  const t = Number.isInteger(id) ? CSUM_TYPES[id] : undefined;
  if (t === undefined) throw new FsError('EINVAL', `unsupported checksum algorithm ${id}`);
  return t;
}

/** The type a user named; accepts btrfs-progs' display names too ('xxhash64', 'blake2b'). */
export function csumTypeByName(name: string): CsumType {
  const t = BY_NAME.get(name);
  if (t === undefined) throw new FsError('EINVAL', `unknown checksum algorithm '${name}'`);
  return t;
}
