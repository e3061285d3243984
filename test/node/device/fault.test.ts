// FaultDevice: each fault kind as its header specifies, fork independence, crash-state enumeration.
import { describe, expect, it } from 'vitest';
import { FaultDevice, MemoryDevice, mulberry32 } from '../../../src/device/index.js';
import { isFsError } from '../../../src/util/errors.js';
import { pattern } from '../../shared/device-conformance.js';
import { expectBytes } from '../../shared/device-bytes.js';

const S = 4096;
const fsErr = (code: string) => (e: unknown) => isFsError(e) && e.code === code;
const fresh = () => new FaultDevice(new MemoryDevice(64 * S));

describe('FaultDevice live faults', () => {
  it('passes I/O through and logs writes and flushes with private copies', async () => {
    const fd = fresh();
    const buf = pattern(2 * S, 1);
    await fd.write(S, buf);
    buf.fill(0);
    await fd.flush();
    expectBytes(await fd.read(S, 2 * S), pattern(2 * S, 1));
    expect(fd.events.map((e) => e.kind)).toEqual(['write', 'flush']);
    const w = fd.events[0];
    expect(w.kind === 'write' && w.offsetBytes === S && w.landedAtBytes === S).toBe(true);
    if (w.kind === 'write') expectBytes(w.data, pattern(2 * S, 1));
  });

  it('power cut after write N: later writes, flushes and reads fail with EIO', async () => {
    const fd = fresh();
    fd.cutPowerAfterWrite(2);
    await fd.write(0, pattern(S, 1));
    await fd.write(S, pattern(S, 2));
    expect(fd.crashed).toBe(false);
    await expect(fd.write(2 * S, pattern(S, 3))).rejects.toSatisfy(fsErr('EIO'));
    expect(fd.crashed).toBe(true);
    await expect(fd.flush()).rejects.toSatisfy(fsErr('EIO'));
    await expect(fd.read(0, S)).rejects.toSatisfy(fsErr('EIO'));
    expect(fd.writesIssued).toBe(2);
    expect(fd.events).toHaveLength(2); // the refused write is not in the log
  });

  it('bit flips show in reads until the sector is rewritten', async () => {
    const fd = fresh();
    await fd.write(0, pattern(2 * S, 1));
    fd.flipBit(100, 3);
    fd.flipBit(S + 5, 0);
    const r = await fd.read(0, 2 * S);
    expect(r[100]).toBe(pattern(2 * S, 1)[100] ^ 8);
    expect(r[S + 5]).toBe(pattern(2 * S, 1)[S + 5] ^ 1);
    await fd.write(0, pattern(S, 2));
    expectBytes(await fd.read(0, S), pattern(S, 2), 'rewritten sector is clean');
    expect((await fd.read(S, S))[5]).toBe(pattern(2 * S, 1)[S + 5] ^ 1);
    // The pristine content underneath never changed.
    expectBytes(fd.crashState('all').readSync(S, S), pattern(2 * S, 1).subarray(S));
  });

  it('latent sector errors fail reads touching the sector until it is rewritten', async () => {
    const fd = fresh();
    await fd.write(0, pattern(4 * S, 1));
    fd.addLatentError(2 * S);
    await expect(fd.read(0, 4 * S)).rejects.toSatisfy(fsErr('EIO'));
    await expect(fd.read(2 * S, S)).rejects.toSatisfy(fsErr('EIO'));
    expectBytes(await fd.read(0, 2 * S), pattern(4 * S, 1).subarray(0, 2 * S));
    await fd.write(2 * S, pattern(S, 2));
    expectBytes(await fd.read(2 * S, S), pattern(S, 2));
  });

  it('misdirected writes land elsewhere or are lost, reporting success, and crash states reproduce them', async () => {
    const fd = fresh();
    fd.misdirectNextWrite((off) => off === 4 * S, 9 * S);
    fd.misdirectNextWrite((off) => off === 5 * S, 'lost');
    await fd.write(4 * S, pattern(S, 1));
    await fd.write(5 * S, pattern(S, 2));
    await fd.write(4 * S, pattern(S, 3)); // one-shot: this one lands where asked
    expectBytes(await fd.read(9 * S, S), pattern(S, 1), 'ghost copy');
    expectBytes(await fd.read(5 * S, S), new Uint8Array(S), 'lost write');
    expectBytes(await fd.read(4 * S, S), pattern(S, 3));
    const events = fd.events.filter((e) => e.kind === 'write');
    expect(events.map((e) => e.kind === 'write' && e.landedAtBytes)).toEqual([9 * S, null, 4 * S]);
    await fd.flush();
    const img = fd.crashState('none');
    expectBytes(img.readSync(9 * S, S), pattern(S, 1));
    expectBytes(img.readSync(5 * S, S), new Uint8Array(S));
  });
});

describe('FaultDevice crash states', () => {
  async function workload(): Promise<FaultDevice> {
    const fd = fresh();
    await fd.write(0, pattern(S, 1)); // 0
    await fd.flush(); // 1
    await fd.write(S, pattern(2 * S, 2)); // 2
    await fd.write(0, pattern(S, 3)); // 3
    await fd.flush(); // 4
    await fd.write(8 * S, pattern(4 * S, 4)); // 5
    await fd.write(8 * S, pattern(S, 5)); // 6
    return fd;
  }

  it('stateAfter(k) keeps everything up to the last flush before k, and unflushed writes per policy', async () => {
    const fd = await workload();
    expect(fd.events).toHaveLength(7);
    const zero = new Uint8Array(S);
    expectBytes(fd.stateAfter(0).readSync(0, S), zero, 'k=0: nothing');
    expectBytes(fd.stateAfter(1, 'none').readSync(0, S), zero, 'k=1 unflushed write dropped');
    expectBytes(fd.stateAfter(1, 'all').readSync(0, S), pattern(S, 1), 'k=1 kept');
    expectBytes(fd.stateAfter(2, 'none').readSync(0, S), pattern(S, 1), 'k=2 flushed');
    const k4 = fd.stateAfter(4, 'none');
    expectBytes(k4.readSync(0, S), pattern(S, 1), 'k=4: flush not reached, write 3 dropped');
    expectBytes(k4.readSync(S, 2 * S), new Uint8Array(2 * S));
    const k5 = fd.stateAfter(5, 'none');
    expectBytes(k5.readSync(0, 3 * S), Uint8Array.from([...pattern(S, 3), ...pattern(2 * S, 2)]), 'k=5 after second flush');
    // Reordering: keep the later overlapping write, drop the earlier one.
    const reordered = fd.stateAfter(7, (w) => (w.index === 6 ? 'keep' : 'drop'));
    expectBytes(reordered.readSync(8 * S, 4 * S), Uint8Array.from([...pattern(S, 5), ...new Uint8Array(3 * S)]));
    // Torn: sectors 0 and 2 of write 5 only.
    const torn = fd.stateAfter(6, () => [true, false, true, false]);
    const p = pattern(4 * S, 4);
    expectBytes(torn.readSync(8 * S, 4 * S), Uint8Array.from([...p.subarray(0, S), ...new Uint8Array(S), ...p.subarray(2 * S, 3 * S), ...new Uint8Array(S)]));
  });

  it('seeded policies are deterministic and produce kept, dropped and torn writes', async () => {
    const fd = fresh();
    for (let i = 0; i < 40; i++) await fd.write(i * S, pattern(S * 4, i).subarray(0, S));
    const a = fd.crashState({ seed: 42 });
    const b = fd.crashState({ seed: 42 });
    expectBytes(a.readSync(0, 40 * S), b.readSync(0, 40 * S), 'same seed, same state');
    let kept = 0;
    let dropped = 0;
    for (let i = 0; i < 40; i++) {
      const s = a.readSync(i * S, S);
      if (s.every((x) => x === 0)) dropped++;
      else kept++;
    }
    expect(kept).toBeGreaterThan(5);
    expect(dropped).toBeGreaterThan(5);
    const c = fd.crashState({ seed: 43 });
    expect(a.readSync(0, 40 * S).join()).not.toBe(c.readSync(0, 40 * S).join());
  });

  it('crash images are independent of each other and of the device', async () => {
    const fd = await workload();
    const img = fd.stateAfter(7, 'all');
    img.writeSync(0, pattern(S, 99));
    expectBytes(await fd.read(0, S), pattern(S, 3));
    expectBytes(fd.stateAfter(7, 'all').readSync(0, S), pattern(S, 3));
  });

  it('fork gives an independent device: content, log and faults', async () => {
    const fd = await workload();
    fd.flipBit(0, 1);
    const f = fd.fork();
    await f.write(0, pattern(S, 50));
    fd.addLatentError(S);
    expectBytes(await f.read(0, S), pattern(S, 50), 'fork wrote, flip cleared there');
    expect((await fd.read(0, S))[0]).toBe(pattern(S, 3)[0] ^ 2);
    await expect(fd.read(S, S)).rejects.toSatisfy(fsErr('EIO'));
    expectBytes(await f.read(S, S), pattern(2 * S, 2).subarray(0, S), 'no latent error in the fork');
    expect(f.events).toHaveLength(8);
    expect(fd.events).toHaveLength(7);
    expectBytes(f.stateAfter(7, 'all').readSync(0, S), pattern(S, 3));
    expectBytes(f.crashState('all').readSync(0, S), pattern(S, 50));
  });

  it('mulberry32 is a deterministic PRNG in [0, 1)', () => {
    const r = mulberry32(7);
    const xs = Array.from({ length: 1000 }, () => r());
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(mulberry32(7)()).toBe(xs[0]);
    expect(new Set(xs).size).toBeGreaterThan(990);
  });
});
