// btrfs mount option strings ("compress=zstd:3,noatime,commit=5"), parsed the way mount does:
// comma separated, the last occurrence wins, `no` prefixes turn flags off, key=value.
// This is the engine-level subset (issue: the full btrfs-man5 table comes with the POSIX
// layer). Options we do not know are EINVAL naming the option.
import { FsError } from '../util/errors.js';

export interface MountOptions {
  readonly: boolean;
  /** commit=<seconds>: interval of the periodic commit (btrfs default 30 s). */
  commitIntervalMs: number;
  /** flushoncommit: no effect on ordering here (data is always written before the commit that names it). */
  flushOnCommit: boolean;
  useBackupRoot: boolean;
}

export const DEFAULT_COMMIT_INTERVAL_MS = 30_000;
/** btrfs warns above 300 s; we refuse absurd values outright. */
const MAX_COMMIT_SECONDS = 24 * 3600;

export function parseMountOptions(input: string | undefined): MountOptions {
  const o: MountOptions = { readonly: false, commitIntervalMs: DEFAULT_COMMIT_INTERVAL_MS, flushOnCommit: false, useBackupRoot: false };
  if (!input) return o;
  for (const raw of input.split(',')) {
    const opt = raw.trim();
    if (opt === '') continue;
    const eq = opt.indexOf('=');
    const name = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? undefined : opt.slice(eq + 1);
    switch (name) {
      case 'ro': o.readonly = true; break;
      case 'rw': o.readonly = false; break;
      case 'flushoncommit': o.flushOnCommit = true; break;
      case 'noflushoncommit': o.flushOnCommit = false; break;
      case 'commit': {
        const s = value === undefined || value === '' ? 0 : Number(value);
        if (!Number.isInteger(s) || s < 0 || s > MAX_COMMIT_SECONDS) throw new FsError('EINVAL', `commit=${value}: expected whole seconds from 0 to ${MAX_COMMIT_SECONDS}`);
        o.commitIntervalMs = s === 0 ? DEFAULT_COMMIT_INTERVAL_MS : s * 1000;
        break;
      }
      case 'rescue':
      case 'usebackuproot': {
        const modes = name === 'usebackuproot' ? ['usebackuproot'] : (value ?? '').split(':');
        for (const m of modes) {
          if (m === 'usebackuproot') o.useBackupRoot = true;
          else throw new FsError('EINVAL', `rescue=${m}: not supported (supported: usebackuproot)`);
        }
        break;
      }
      default:
        throw new FsError('EINVAL', `unknown mount option '${name}'`);
    }
  }
  if (o.useBackupRoot && !o.readonly) {
    // btrfs allows usebackuproot read-write; so do we: the next commit continues from that root.
  }
  return o;
}
