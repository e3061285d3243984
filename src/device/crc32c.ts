// A small table-driven CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum btrfs
// uses. Device code needs it only for the zone write-pointer table (a few KiB per flush), so a
// byte-at-a-time table is fast enough; the batched kernels in src/kernels are for data and
// metadata checksums and are deliberately not imported here (layering: device is below kernels'
// users, and it keeps this layer free of wasm loading).
//
// Fault model: none (pure function).

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC-32C of `bytes` (standard init ~0 and final xor, as btrfs and iSCSI use). */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
