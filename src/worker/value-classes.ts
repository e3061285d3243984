// The engine's value classes: data with methods computed from it, which cross the worker boundary
// by value and are rebuilt with their prototype (wire.ts registerValueClass). Imported for its
// effect by the worker entry and the page client, so both sides register the same names.
import { BigIntStats, Dirent, Stats } from '../api/stats.js';
import { registerValueClass } from './wire.js';

registerValueClass('Stats', Stats);
registerValueClass('BigIntStats', BigIntStats);
registerValueClass('Dirent', Dirent);

/** The same list for the client's type (types.ts): these are not proxied. */
export type ValueClassInstance = Stats | BigIntStats | Dirent<string | Uint8Array>;
